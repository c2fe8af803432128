"""Celery tasks of credentials: thin wrappers that take ids, never secrets. The services publish
them by name through the job base (workspaces/jobs.py), so nothing below imports this module."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(
    name="credentials.validate_credential",
    acks_late=True,
    soft_time_limit=45,
    time_limit=60,
    ignore_result=True,
)
def validate_credential(pending_id: str) -> None:
    services.pending_validation_run(pending_id=pending_id)


@shared_task(
    name="credentials.sweep_pending_validations",
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def sweep_pending_validations() -> None:
    services.pending_validations_sweep()
