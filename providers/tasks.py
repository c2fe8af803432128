"""Celery tasks of providers: thin wrappers that take ids, never secrets."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(
    name="providers.refresh_models",
    acks_late=True,
    soft_time_limit=45,
    time_limit=60,
    ignore_result=True,
)
def refresh_models(refresh_id: str) -> None:
    services.model_refresh_run(refresh_id=refresh_id)
