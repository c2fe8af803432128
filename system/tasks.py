"""Celery tasks of the system side (scheduled by beat: config/settings.py)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="system.refresh_models", ignore_result=True, soft_time_limit=300, time_limit=330)
def refresh_models() -> None:
    services.system_models_refresh_all()
