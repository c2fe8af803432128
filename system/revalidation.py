"""Scheduled re-validation of every stored credential (workspace and system), rate-limited per
workspace, so a key revoked or out of credit at the provider shows as failing before a call
trips over it.

Celery beat runs `credentials.revalidate_all` every CREDENTIAL_REVALIDATION_SECONDS; it enqueues
one check per credential with a countdown from `revalidation_countdowns`, so no workspace's
checks exceed CREDENTIAL_REVALIDATION_RATE per minute and workspaces do not wait for each other.
Each check makes the provider call "Check now" makes (the adapter's `validate`). A check has no
row of its own, so it runs once by claiming its Celery task id (`jobs.first_delivery`): a check
the broker delivers again does nothing, and the next scheduled run checks that credential anew.

Unlike "Check now", an answer that says nothing about the key (rate limited, 5xx, unreachable,
timed out) leaves the credential as it is: a scheduled run during a provider's bad minute must
not take every key out of rotation until the next run. It is logged, and the next run retries.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from balancing.services import credential_restored
from credentials.crypto import SecretDecryptionError, SecretUnreadable
from credentials.models import Credential, CredentialStatus
from upstream.calling import get_adapter
from upstream.errors import (
    NotSupported,
    ProviderError,
    RateLimited,
    Timeout,
    Unreachable,
    UpstreamError,
)
from upstream.registry import get_provider
from workspaces import jobs
from workspaces.actors import Operator
from workspaces.config_cache import ConfigKind, config_changed
from workspaces.services import audit_record

from .models import SystemCredential

logger = logging.getLogger(__name__)

AUDIT_ACTION = "credential.revalidate"
BEAT = Operator("beat revalidation")  # who the audit log says acted
# Answers about the provider's state, not the key's: they never mark a credential failing.
INCONCLUSIVE = (RateLimited, UpstreamError, Unreachable, Timeout)
# The Celery tasks (credentials/tasks.py) that run one check, by name: tasks import this module.
TASKS = {
    "credential": "credentials.revalidate_credential",
    "system": "credentials.revalidate_system_credential",
}


class Outcome(StrEnum):
    ACTIVE = "active"  # validated, and it was active
    RESTORED = "restored"  # validated, and it was failing
    FAILING = "failing"  # the provider refused it: marked failing
    INCONCLUSIVE = "inconclusive"  # no verdict (see the module docstring): left as it was
    SKIPPED = "skipped"  # deleted, or edited while it was being checked


# --- spacing -----------------------------------------------------------------------------------


def revalidation_countdowns(groups: Sequence[Hashable], *, per_minute: int) -> list[int]:
    """Seconds each check waits, for checks listed with their group (a workspace).

    The n-th check of a group (from 0) waits ceil(n * 60 / per_minute) seconds, whatever other
    groups hold: check n + per_minute comes exactly 60 s after check n, so no 60-second window
    holds more than `per_minute` checks of one group. Integer arithmetic keeps that exact.
    """
    if per_minute < 1:
        raise ValueError("CREDENTIAL_REVALIDATION_RATE must be at least 1 per minute.")
    seen: dict[Hashable, int] = {}
    countdowns = []
    for group in groups:
        n = seen.get(group, 0)
        seen[group] = n + 1
        countdowns.append(-(-n * 60 // per_minute))
    return countdowns


@dataclass(frozen=True)
class ScheduledCheck:
    task: str  # "credential" or "system"
    pk: int
    countdown: int


def revalidation_plan(*, per_minute: int) -> list[ScheduledCheck]:
    """Every credential's check and when it runs; the operator's keys are spaced per provider."""
    workspace_rows = Credential.objects.order_by("workspace_id", "pk").values_list(
        "pk", "workspace_id"
    )
    system_rows = SystemCredential.objects.order_by("system_provider_id", "pk").values_list(
        "pk", "system_provider_id"
    )
    rows = [("credential", pk, ("workspace", group)) for pk, group in workspace_rows] + [
        ("system", pk, ("system", group)) for pk, group in system_rows
    ]
    countdowns = revalidation_countdowns([group for _, _, group in rows], per_minute=per_minute)
    return [
        ScheduledCheck(task, pk, countdown)
        for (task, pk, _), countdown in zip(rows, countdowns, strict=True)
    ]


def revalidation_enqueue_all() -> int:
    """Queue every credential's check (the beat task's body); returns how many were queued.

    The countdowns live in the broker, so with Redis keep them under the transport's
    visibility_timeout (1 h by default): at 30 per minute, a workspace of 1,800 credentials.
    """
    queued = 0
    for check in revalidation_plan(per_minute=settings.CREDENTIAL_REVALIDATION_RATE):
        try:
            jobs.task_send(TASKS[check.task], args=[check.pk], countdown=check.countdown)
        except jobs.BROKER_ERRORS as exc:
            logger.warning("re-validation could not be queued: %s", type(exc).__name__)
            return queued  # the broker is down: the next scheduled run tries again
        queued += 1
    return queued


# --- one check ---------------------------------------------------------------------------------


def _stored_values(row: models.Model) -> dict[str, Any] | None:
    """The values a check sends; None when the secret does not decrypt."""
    try:
        return row.values()
    except SecretDecryptionError:
        return None


def _validate(row: models.Model, *, provider_key: str, model: str | None):
    """(values checked, the provider's refusal or None): the call "Check now" makes."""
    values = _stored_values(row)
    if values is None:
        return None, SecretUnreadable()
    spec = get_provider(provider_key)
    if spec is None:
        return values, NotSupported("the provider is no longer in the catalog")
    try:
        # A recheck: a check added since the credential was saved (an OpenAI custom model's
        # name) warns, it does not mark the credential failing.
        get_adapter(spec).validate(values, model=model, recheck=True)
    except ProviderError as exc:
        return values, exc
    except Exception:  # an adapter bug is no verdict on the key
        logger.exception("re-validation of %s %s crashed", type(row).__name__, row.pk)
        return values, UpstreamError("unexpected error while validating")
    return values, None


def _locked_unchanged(model: type[models.Model], pk: int, values):
    """The row, locked, if it still holds the values that were checked; else None (deleted,
    or edited meanwhile: that edit was validated on its own, this result is stale)."""
    row = model.objects.select_for_update().defer("secret_data").filter(pk=pk).first()
    if row is None or _stored_values(row) != values:
        return None
    return row


def credential_revalidate(*, credential_id: int) -> Outcome:
    """Re-validate one workspace credential: a refusal marks it failing (as "Check now" does)
    and is audited; a failing one that validates is restored to its pools."""
    credential = Credential.objects.defer("secret_data").filter(pk=credential_id).first()
    if credential is None:
        return Outcome.SKIPPED
    values, error = _validate(
        credential, provider_key=credential.provider, model=credential.model_name or None
    )
    if isinstance(error, INCONCLUSIVE):
        logger.warning("re-validation of credential %s inconclusive: %s", credential_id, error.code)
        return Outcome.INCONCLUSIVE

    with transaction.atomic():
        locked = _locked_unchanged(Credential, credential_id, values)
        if locked is None:
            return Outcome.SKIPPED
        was_failing = locked.status == CredentialStatus.FAILING
        Credential.objects.filter(pk=locked.pk).update(
            **Credential.check_result(error, timezone.now())
        )
        details = {"provider": locked.provider, "model": locked.model_name}
        if error is not None:
            config_changed(locked.workspace_id, ConfigKind.CREDENTIALS)
            audit_record(
                workspace=locked.workspace,
                actor=BEAT,
                action=AUDIT_ACTION,
                target=locked,
                outcome="failure",
                details={**details, "error": error.code},
            )
            return Outcome.FAILING
        if not was_failing:
            return Outcome.ACTIVE
        transaction.on_commit(lambda: credential_restored(credential=locked))
        audit_record(
            workspace=locked.workspace,
            actor=BEAT,
            action=AUDIT_ACTION,
            target=locked,
            details={**details, "restored": True},
        )
        return Outcome.RESTORED


def system_credential_revalidate(*, system_credential_id: int) -> Outcome:
    """Re-validate one of the operator's keys: marked failing (or active again) and logged;
    no workspace audit log holds operator keys."""
    row = (
        SystemCredential.objects.select_related("system_provider")
        .defer("secret_data")
        .filter(pk=system_credential_id)
        .first()
    )
    if row is None:
        return Outcome.SKIPPED
    values, error = _validate(row, provider_key=row.provider, model=None)
    if isinstance(error, INCONCLUSIVE):
        logger.warning("re-validation of system credential %s inconclusive: %s", row.pk, error.code)
        return Outcome.INCONCLUSIVE

    with transaction.atomic():
        locked = _locked_unchanged(SystemCredential, row.pk, values)
        if locked is None:
            return Outcome.SKIPPED
        was_failing = locked.status == CredentialStatus.FAILING
        SystemCredential.objects.filter(pk=locked.pk).update(
            **SystemCredential.check_result(error, timezone.now())
        )
        if error is not None or was_failing:
            config_changed(None, ConfigKind.SYSTEM_OFFERS)  # offers list only working keys
    if error is not None:
        logger.warning(
            "system credential %s (%s, %s) failed re-validation: %s",
            row.pk,
            row.provider,
            row.name,
            error.code,
        )
        return Outcome.FAILING
    if was_failing:
        logger.info("system credential %s (%s) works again", row.pk, row.provider)
        return Outcome.RESTORED
    return Outcome.ACTIVE
