"""Celery tasks of the system side (scheduled by beat: config/settings.py): the system's model
lists, and the revalidation of every stored credential. The revalidation tasks keep the names
they had in the credentials app (`credentials.revalidate_*`), so tasks already queued still
run."""

from __future__ import annotations

from celery import shared_task

from workspaces import jobs

from . import revalidation, services


@shared_task(name="system.refresh_models", ignore_result=True, soft_time_limit=300, time_limit=330)
def refresh_models() -> None:
    services.system_models_refresh_all()


@shared_task(
    name="credentials.revalidate_all",
    ignore_result=True,
    soft_time_limit=300,
    time_limit=330,
)
def revalidate_all() -> None:
    """Scheduled by beat: queue a spaced check of every credential (system/revalidation.py)."""
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
