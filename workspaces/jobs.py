"""Background jobs: one life cycle for the work a page hands to a Celery worker and then polls
for (a credential's validation, "Refresh models") and for the checks beat schedules.

It lives in workspaces, the floor app that providers, credentials and system already stand on,
because it knows nothing of either: only Django, Celery, the clock and the shared cache. A kind
of job is a model deriving from `Job` (its own table; the base adds no column) that names its
Celery task, what it is doing (for the messages) and its deadline.

- Queued on commit: `queue_on_commit()` opens the caller's transaction, durable, so leaving it
  means committed, and only then publishes the jobs created inside it. A worker never gets an
  id whose row is not there yet, and a request that rolls back queues nothing. The task is
  found by its name in Celery's registry, so a service never imports its own tasks module
  (tasks import services, not the other way round).
- Runs once: `job_run` claims a queued job under a row lock; a second delivery (acks late
  redelivers when a worker dies or a visibility timeout passes) finds it running or finished and
  does nothing. A job without a row, a scheduled check, claims its Celery task id in the shared
  cache instead (`first_delivery`).
- Expires: past its deadline a job ends as timed out, with the same messages for every kind, and
  an answer arriving afterwards is dropped: the page already said it timed out.
- Ends without secrets: succeeding or expiring wipes the kind's `secret_fields`. A kind whose
  secrets outlive a failure (so a form can be resubmitted without retyping) keeps them only until
  its deadline, and its sweep wipes them then.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import ClassVar, TypeVar

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from .models import Workspace

logger = logging.getLogger(__name__)

# What publishing a task raises when the broker cannot be reached.
BROKER_ERRORS = (KombuOperationalError, RedisError, OSError)
# The headlines every kind shows; its hint says what it was doing (`Job.doing`). The worker
# that runs jobs is "the validation service" to users: it checks keys with their providers.
UNAVAILABLE_MESSAGE = "Validation service unavailable"
TIMEOUT_MESSAGE = "Validation timed out"
UNAVAILABLE_CODE = "validation_unavailable"
TIMEOUT_CODE = "timeout"
# How long a delivered task id is remembered: redeliveries come after the broker's visibility
# timeout (an hour by default), well inside a day.
DELIVERY_MEMORY_SECONDS = 24 * 3600


def unavailable_hint(job: Job) -> str:
    return (
        f"The task queue or its worker cannot be reached, so {job.doing} could not start. Try "
        "again in a moment; if it persists, the operator should check /healthz."
    )


def timeout_hint(job: Job) -> str:
    return f"The worker did not finish {job.doing} in time (it may be busy or down). Try again."


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Timed out"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.EXPIRED)


class Job(models.Model):
    """What every background job records: who asked, where, how it ended and when."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error_code = models.CharField(max_length=40, blank=True, default="")
    error_message = models.CharField(max_length=400, blank=True, default="")
    error_hint = models.CharField(max_length=400, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # The Celery task that runs the job, called with the job's id (its name never changes, so
    # queued tasks still run after a deploy).
    task_name: ClassVar[str]
    # What the job does, as the messages say it: "… so {doing} could not start."
    doing: ClassVar[str]
    # Fields holding secrets, set to None when the job ends.
    secret_fields: ClassVar[tuple[str, ...]] = ()
    # Whether a failed job keeps its secrets until its deadline (for a resubmit).
    secrets_outlive_failure: ClassVar[bool] = False

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def deadline(self) -> datetime:
        """When an unfinished job times out."""
        raise NotImplementedError

    def is_overdue(self) -> bool:
        return timezone.now() >= self.deadline()


J = TypeVar("J", bound=Job)
R = TypeVar("R")


# --- queueing ----------------------------------------------------------------------------------


@contextmanager
def queue_on_commit() -> Iterator[Callable[[Job], None]]:
    """The caller's transaction; jobs handed to the yielded function are published once it has
    committed, and come back refreshed (an eager worker has finished them by then, a broker
    that is down has failed them)."""
    queued: list[Job] = []
    with transaction.atomic(durable=True):
        yield queued.append
    for job in queued:
        _publish(job)
        job.refresh_from_db()


def task_send(task_name: str, *, args: list, countdown: float | None = None) -> None:
    """Publish a task by its name (raises one of BROKER_ERRORS when the broker is down)."""
    current_app.tasks[task_name].apply_async(args=args, countdown=countdown, retry=False)


def _publish(job: Job) -> None:
    try:
        task_send(job.task_name, args=[str(job.pk)])
    except BROKER_ERRORS as exc:
        logger.warning("job %s could not be queued: %s", job.pk, type(exc).__name__)
        with transaction.atomic():
            locked = (
                type(job)
                .objects.select_for_update()
                .filter(pk=job.pk, status=JobStatus.QUEUED)
                .first()
            )
            if locked is not None:
                job_fail(
                    locked,
                    code=UNAVAILABLE_CODE,
                    message=UNAVAILABLE_MESSAGE,
                    hint=unavailable_hint(locked),
                )


# --- running -----------------------------------------------------------------------------------


def job_run(
    model: type[J], job_id: str, *, work: Callable[[J], R], finish: Callable[[J, R], None]
) -> None:
    """Run a queued job once: `work` (the slow part, outside any transaction) and then, while the
    job is still running and within its deadline, `finish` with its result, under the row's
    lock. A second delivery, or an answer after the deadline, changes nothing."""
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != JobStatus.QUEUED:
            return  # delivered again, or swept
        if job.is_overdue():
            job_expire(job)
            return
        job.status = JobStatus.RUNNING
        fields = ["status"]
        if any(f.name == "started_at" for f in model._meta.fields):
            job.started_at = timezone.now()
            fields.append("started_at")
        job.save(update_fields=fields)

    result = work(job)

    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != JobStatus.RUNNING:
            return  # timed out meanwhile: the page said so, and the answer is dropped
        if job.is_overdue():
            job_expire(job)
            return
        finish(job, result)


def first_delivery(request) -> bool:
    """For a job without a row: True unless this Celery task id was delivered before.

    A cache that cannot be reached lets the task run (and says so): running twice costs a
    provider call, while never running would silently stop the checks.
    """
    task_id = getattr(request, "id", None)
    if not task_id:
        return True  # called directly, not delivered
    try:
        return bool(cache.add(f"job-delivery:{task_id}", 1, timeout=DELIVERY_MEMORY_SECONDS))
    except Exception:  # any cache fault: fail open, visibly
        logger.warning("delivery %s could not be claimed (cache unreachable)", task_id)
        return True


# --- ending ------------------------------------------------------------------------------------


def _end(job: Job, status: JobStatus, *, wipe: bool) -> None:
    job.status = status
    job.finished_at = timezone.now()
    if wipe:
        for field in job.secret_fields:
            setattr(job, field, None)
    job.save()


def job_succeed(job: Job) -> None:
    """Mark the job done (the caller has set its result fields) and wipe its secrets."""
    job.error_code = job.error_message = job.error_hint = ""
    _end(job, JobStatus.SUCCEEDED, wipe=True)


def job_fail(job: Job, *, code: str, message: str, hint: str) -> None:
    job.error_code, job.error_message, job.error_hint = code, message[:400], hint[:400]
    _end(job, JobStatus.FAILED, wipe=not job.secrets_outlive_failure)


def job_expire(job: Job) -> None:
    job.error_code, job.error_message = TIMEOUT_CODE, TIMEOUT_MESSAGE
    job.error_hint = timeout_hint(job)
    _end(job, JobStatus.EXPIRED, wipe=True)


def job_expire_if_overdue(job: J) -> J:
    """Called when a page polls: past its deadline an unfinished job ends as timed out."""
    if job.is_finished:
        return job
    with transaction.atomic():
        locked = type(job).objects.select_for_update().get(pk=job.pk)
        if not locked.is_finished and locked.is_overdue():
            job_expire(locked)
    job.refresh_from_db()
    return job
