"""Celery tasks of credentials: thin wrappers that take ids, never secrets. The services publish
them by name through the job base (workspaces/jobs.py), so nothing below imports this module."""

from __future__ import annotations

from celery import shared_task

from workspaces import jobs

from . import revalidation, services


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


@shared_task(
    name="credentials.revalidate_all",
    ignore_result=True,
    soft_time_limit=300,
    time_limit=330,
)
def revalidate_all() -> None:
    """Scheduled by beat: queue a spaced check of every credential (credentials/revalidation.py)."""
    revalidation.revalidation_enqueue_all()


@shared_task(
    name="credentials.revalidate_credential",
    bind=True,
    acks_late=True,
    soft_time_limit=45,
    time_limit=60,
    ignore_result=True,
)
def revalidate_credential(self, credential_id: int) -> None:
    if jobs.first_delivery(self.request):
        revalidation.credential_revalidate(credential_id=credential_id)


@shared_task(
    name="credentials.revalidate_system_credential",
    bind=True,
    acks_late=True,
    soft_time_limit=45,
    time_limit=60,
    ignore_result=True,
)
def revalidate_system_credential(self, system_credential_id: int) -> None:
    if jobs.first_delivery(self.request):
        revalidation.system_credential_revalidate(system_credential_id=system_credential_id)
