"""Writes to credentials: validation before saving, defaults, deletion, and the audit trail.

Every create or edit becomes a `PendingValidation`, a background job (workspaces/jobs.py: queued
on commit, run once, timed out, secrets wiped); the Celery task `validate_credential` calls
`pending_validation_run`, and only a passing provider call creates or updates the credential.
Views, `apply_providers` (through `credential_store`, after validating itself) and the Django
admin all come through here; the operator acts as an `Operator` (workspaces/actors.py).
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from upstream.calling import get_adapter
from upstream.errors import ProviderError, UpstreamError
from upstream.forms import CredentialValuesInvalid, clean_credential_values
from upstream.registry import get_provider
from upstream.schema import MODEL_FEATURES, CredentialSchema, ProviderSpec
from workspaces import jobs
from workspaces.actors import Actor, actor_user
from workspaces.config_cache import ConfigKind, config_changed
from workspaces.exceptions import ApplicationError
from workspaces.models import User, Workspace
from workspaces.services import audit_record, require_manager

from .crypto import SecretDecryptionError, SecretUnreadable
from .models import (
    Credential,
    CustomModel,
    PendingValidation,
    ValidationKind,
    ValidationStatus,
    default_custom_model_features,
)
from .signals import credential_deleting, credential_saved, credential_working

logger = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^API KEY (\d+)$")


# --- helpers -----------------------------------------------------------------------------------


def credential_schema(provider: ProviderSpec, *, custom: bool) -> CredentialSchema:
    """The provider's credential schema, or its custom-model one."""
    if not custom:
        return provider.credential_schema
    if provider.custom_model_schema is None:
        raise ApplicationError(f"{provider.label} has no custom models.")
    return provider.custom_model_schema


def _scope(credential_or_pending) -> dict[str, Any]:
    return {
        "workspace": credential_or_pending.workspace,
        "provider": credential_or_pending.provider,
        "model_name": credential_or_pending.model_name,
        "model_type": credential_or_pending.model_type,
    }


def next_credential_name(
    *, workspace: Workspace, provider: str, model_name: str = "", model_type: str = ""
) -> str:
    """The next free "API KEY n" of a scope."""
    names = Credential.objects.filter(
        workspace=workspace, provider=provider, model_name=model_name, model_type=model_type
    ).values_list("name", flat=True)
    numbers = [int(m.group(1)) for n in names if (m := NAME_PATTERN.match(n))]
    return f"API KEY {max(numbers, default=0) + 1}"


def clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if len(name) > 100:
        raise ApplicationError("Credential names are at most 100 characters.", field="name")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ApplicationError("The name contains control characters.", field="name")
    return name


def clean_model_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ApplicationError(
            "Give the model's name as the provider spells it.", field="model_name"
        )
    if len(name) > 200:
        raise ApplicationError("Model names are at most 200 characters.", field="model_name")
    if any(c.isspace() or ord(c) < 32 for c in name):
        raise ApplicationError(
            "Model names have no spaces or control characters.", field="model_name"
        )
    return name


def kept_secret_moved(
    *,
    schema: CredentialSchema,
    stored_config: dict[str, Any],
    values: dict[str, Any],
    kept,
    verb: str = "type",
) -> str | None:
    """Why a stored secret may not be kept, or None.

    A stored secret is only ever sent to the address it was saved with: when any address
    field (`schema.address_variables`: base URL, endpoint) differs from `stored_config` while
    a secret in `kept` is reused rather than typed, the message says which to type again.
    Otherwise whoever may edit a credential could read its key by pointing it at their server.
    The form, the system-credential admin and `apply_providers` all ask this one function.
    """
    moved = [
        v
        for v in schema.address_variables
        if str(values.get(v) or "") != str(stored_config.get(v) or "")
    ]
    reused = [v for v in schema.secret_variables if v in set(kept)]
    if not moved or not reused:
        return None
    address, secret = schema.get(moved[0]), schema.get(reused[0])
    return (
        f"{address.label} changed: {verb} the {secret.label} again. A stored secret is only "
        "sent to the address it was saved with."
    )


def _split_values(
    schema: CredentialSchema, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    secret_names = set(schema.secret_variables)
    config = {k: v for k, v in values.items() if k not in secret_names}
    secrets = {k: v for k, v in values.items() if k in secret_names}
    return config, secrets


# --- requesting a validation -------------------------------------------------------------------


def validation_request_create(
    *,
    workspace: Workspace,
    provider_key: str,
    acting_user: User,
    values: dict[str, Any],
    name: str = "",
    credential: Credential | None = None,
    model_name: str = "",
    model_type: str = "",
    retry_of: PendingValidation | None = None,
    add_to_pool: dict | None = None,
    model_features: list[str] | None = None,
    reuse: Credential | None = None,
) -> PendingValidation:
    """Queue a create (or, with `credential`, an edit) for validation; nothing is saved yet.

    `add_to_pool` (a model's load-balancing pool, {"model", "type", "custom"}, as
    `balancing.services.pool_target_check` returns it) makes a new credential join that pool
    once it is saved: it is handed to the apps above with `credential_saved`.

    Secret fields left empty keep the stored value (edit), take those of `reuse` (Add Model
    with one of the provider's credentials: its secrets are copied into the new model's own
    credential) or what was typed in the failed attempt `retry_of` (so a failed form can be
    resubmitted without retyping the key). Either way a kept secret goes only to the address
    it was saved with (`kept_secret_moved`).
    """
    with jobs.queue_on_commit() as queue:
        pending = _validation_request(
            workspace=workspace,
            provider_key=provider_key,
            acting_user=acting_user,
            values=values,
            name=name,
            credential=credential,
            model_name=model_name,
            model_type=model_type,
            retry_of=retry_of,
            add_to_pool=add_to_pool,
            model_features=model_features,
            reuse=reuse,
        )
        queue(pending)
    return pending


def _validation_request(
    *,
    workspace: Workspace,
    provider_key: str,
    acting_user: User,
    values: dict[str, Any],
    name: str,
    credential: Credential | None,
    model_name: str,
    model_type: str,
    retry_of: PendingValidation | None,
    add_to_pool: dict | None = None,
    model_features: list[str] | None = None,
    reuse: Credential | None = None,
) -> PendingValidation:
    require_manager(workspace=workspace, user=acting_user)
    if model_features is not None:
        model_features = clean_model_features(model_features)
    provider = get_provider(provider_key)
    if provider is None:
        raise ApplicationError("Unknown provider.")
    if credential is not None:
        if credential.workspace_id != workspace.pk or credential.provider != provider.key:
            raise ApplicationError("That credential does not belong here.")
        model_name, model_type = credential.model_name, credential.model_type
        reuse = None
    if reuse is not None and (reuse.workspace_id != workspace.pk or reuse.provider != provider.key):
        raise ApplicationError("That credential does not belong here.", field="credential")
    if bool(model_name) != bool(model_type):
        raise ApplicationError("A custom model needs both a name and a type.")
    if model_name:
        model_name = clean_model_name(model_name)
    if model_type and model_type not in provider.model_types:
        raise ApplicationError(f"{provider.label} does not offer {model_type} models.")
    schema = credential_schema(provider, custom=bool(model_name))

    values = {k: v for k, v in (values or {}).items() if v not in (None, "")}
    kept_secrets: dict[str, Any] = {}
    kept_from: dict[str, Any] = {}  # the config the kept secrets were saved (or typed) with
    left_empty = [v for v in schema.secret_variables if v not in values]
    if left_empty and credential is not None:
        try:
            kept_secrets = credential.secrets
        except SecretDecryptionError as exc:
            raise ApplicationError(
                f"{exc} Meanwhile, type the secret fields again to replace them."
            ) from None
        kept_from = credential.config
    elif left_empty and reuse is not None:
        try:
            kept_secrets = reuse.secrets
        except SecretDecryptionError as exc:
            raise ApplicationError(
                f"{exc} Type the secret fields instead.", field="credential"
            ) from None
        # The address the reused secrets were saved with; an address field it left empty is
        # its schema's default, where its requests went.
        own_schema = credential_schema(provider, custom=bool(reuse.model_name))
        kept_from = {
            **{
                v: own_schema.get(v).default
                for v in own_schema.address_variables
                if own_schema.get(v).default not in (None, "")
            },
            **reuse.config,
        }
    elif (
        left_empty
        and retry_of is not None
        and retry_of.secret_payload
        # Only what was typed into a failed create; a failed edit's payload holds the stored
        # credential's secrets, which must not seed a new credential.
        and retry_of.kind == ValidationKind.CREATE
    ):
        kept_secrets = json.loads(retry_of.secret_payload)
        kept_from = retry_of.config
    kept = [v for v in schema.secret_variables if v not in values and v in kept_secrets]
    for variable in kept:
        values[variable] = kept_secrets[variable]
    try:
        cleaned = clean_credential_values(schema, values)
    except CredentialValuesInvalid as exc:
        field = schema.get(exc.field)
        label = field.label if field else exc.field
        raise ApplicationError(f"{label}: {exc.errors[exc.field][0]}", field=exc.field) from None
    moved = kept_secret_moved(schema=schema, stored_config=kept_from, values=cleaned, kept=kept)
    if moved:
        raise ApplicationError(moved, field=kept[0])

    reused_name = (
        reuse.name
        if reuse is not None
        and not Credential.objects.filter(
            workspace=workspace,
            provider=provider.key,
            model_name=model_name,
            model_type=model_type,
            name=reuse.name,
        ).exists()
        else ""
    )
    name = clean_name(name) or (
        credential.name
        if credential
        else reused_name
        or next_credential_name(
            workspace=workspace,
            provider=provider.key,
            model_name=model_name,
            model_type=model_type,
        )
    )
    clash = Credential.objects.filter(
        workspace=workspace,
        provider=provider.key,
        model_name=model_name,
        model_type=model_type,
        name=name,
    )
    if credential is not None:
        clash = clash.exclude(pk=credential.pk)
    if clash.exists():
        raise ApplicationError(f"A credential named “{name}” already exists here.", field="name")

    config, secrets = _split_values(schema, cleaned)
    _require_validation_budget(workspace)
    pending = PendingValidation.objects.create(
        workspace=workspace,
        provider=provider.key,
        model_name=model_name,
        model_type=model_type,
        kind=ValidationKind.UPDATE if credential else ValidationKind.CREATE,
        credential=credential,
        name=name,
        config=config,
        secret_payload=json.dumps(secrets),
        add_to_pool=add_to_pool if credential is None else None,
        model_features=model_features if credential is None and model_name else None,
        created_by=acting_user,
        expires_at=timezone.now() + timedelta(seconds=settings.CREDENTIAL_VALIDATION_TIMEOUT),
    )
    if retry_of is not None:
        PendingValidation.objects.filter(pk=retry_of.pk).delete()
    return pending


def validation_check_request(*, credential: Credential, acting_user: User) -> PendingValidation:
    """Re-validate a stored credential ("Check now")."""
    with jobs.queue_on_commit() as queue:
        require_manager(workspace=credential.workspace, user=acting_user)
        _require_validation_budget(credential.workspace)
        pending = _check_request(credential=credential, acting_user=acting_user)
        queue(pending)
    return pending


def validation_check_all(
    *, workspace: Workspace, provider_key: str, acting_user: User
) -> list[PendingValidation]:
    """ "Check all": one check per credential of the provider (provider scope)."""
    with jobs.queue_on_commit() as queue:
        require_manager(workspace=workspace, user=acting_user)
        credentials = list(
            Credential.objects.filter(workspace=workspace, provider=provider_key, model_name="")
        )
        _require_validation_budget(workspace, len(credentials))
        pendings = [_check_request(credential=c, acting_user=acting_user) for c in credentials]
        for pending in pendings:
            queue(pending)
    return pendings


def _require_validation_budget(workspace: Workspace, count: int = 1) -> None:
    """At most CREDENTIAL_VALIDATIONS_PER_MINUTE submissions per workspace and minute (a
    counter per minute in the shared cache), so nobody can use the server to probe keys at
    speed. If the counter cannot be reached the submission goes ahead (and is logged): the
    limit guards against abuse, it must not take validation down with Redis."""
    limit = settings.CREDENTIAL_VALIDATIONS_PER_MINUTE
    if limit <= 0 or count <= 0:
        return
    key = f"validations:{workspace.pk}:{int(time.time() // 60)}"
    try:
        cache.add(key, 0, timeout=120)
        used = cache.incr(key, count)
    except Exception:  # any cache fault: fail open, visibly
        logger.warning("validation rate limit unavailable (cache unreachable)", exc_info=True)
        return
    if used > limit:
        raise ApplicationError(
            f"Too many validations for this workspace in the last minute (at most {limit}). "
            "Wait a minute, then try again."
        )


def _check_request(*, credential: Credential, acting_user: User) -> PendingValidation:
    return PendingValidation.objects.create(
        **_scope(credential),
        kind=ValidationKind.CHECK,
        credential=credential,
        name=credential.name,
        created_by=acting_user,
        expires_at=timezone.now() + timedelta(seconds=settings.CREDENTIAL_VALIDATION_TIMEOUT),
    )


# --- running a validation (the Celery task's body) ---------------------------------------------


def pending_validation_run(*, pending_id: str) -> None:
    """Validate with the provider; save only on success and only while the request is live.

    Run once by the job base: a second delivery, or a result that arrives after the page gave
    up (expired), is discarded rather than saved.
    """
    jobs.job_run(PendingValidation, pending_id, work=_provider_verdict, finish=_apply_verdict)


@dataclass(frozen=True)
class _Verdict:
    error: ProviderError | None = None  # the provider's refusal
    warning: str = ""  # accepted, with something worth saying (an unlisted model)


def _provider_verdict(pending: PendingValidation) -> _Verdict:
    """The provider's verdict on the values (outside any transaction). A "Check now" is a
    recheck: a check added after the credential was saved warns instead of refusing."""
    try:
        provider = get_provider(pending.provider)
        values = _values_to_validate(pending)
        warning = get_adapter(provider).validate(
            values,
            model=pending.model_name or None,
            recheck=pending.kind == ValidationKind.CHECK,
        )
    except ProviderError as exc:
        return _Verdict(error=exc)
    except SecretDecryptionError:
        return _Verdict(error=SecretUnreadable())
    except Exception:  # an adapter bug must end as a failure, never as a saved credential
        logger.exception("validation %s crashed", pending.pk)
        return _Verdict(error=UpstreamError("unexpected error while validating"))
    return _Verdict(warning=(warning or "")[:400])


def _apply_verdict(pending: PendingValidation, verdict: _Verdict) -> None:
    if verdict.error is None:
        pending.warning = verdict.warning
        _apply_success(pending)
    else:
        _apply_failure(pending, verdict.error)


def _values_to_validate(pending: PendingValidation) -> dict[str, Any]:
    if pending.kind == ValidationKind.CHECK:
        if pending.credential is None:
            raise UpstreamError("the credential was deleted")
        return pending.credential.values()
    return {**pending.config, **json.loads(pending.secret_payload or "{}")}


def _apply_success(pending: PendingValidation) -> None:
    now = timezone.now()
    try:
        with transaction.atomic():
            credential = _save_credential(pending, now=now)
    except (IntegrityError, ApplicationError) as exc:
        message = (
            exc.message
            if isinstance(exc, ApplicationError)
            else (f"A credential named “{pending.name}” was created meanwhile.")
        )
        jobs.job_fail(pending, code="conflict", message=message, hint="")
        return
    pending.credential = credential
    jobs.job_succeed(pending)
    if pending.kind != ValidationKind.CHECK:
        return  # credential_store wrote the audit row
    _restore_on_commit(credential)
    audit_record(
        workspace=pending.workspace,
        actor=pending.created_by,
        action=f"credential.{pending.kind}",
        target=credential,
        details={
            "provider": pending.provider,
            "model": pending.model_name,
            "default": credential.is_default,
        },
    )


def _save_credential(pending: PendingValidation, *, now) -> Credential:
    if pending.kind == ValidationKind.CHECK:
        credential = Credential.objects.select_for_update().filter(pk=pending.credential_id).first()
        if credential is None:
            raise ApplicationError("The credential was deleted while it was being checked.")
        checked = Credential.check_result(None, now)
        for field, value in checked.items():
            setattr(credential, field, value)
        credential.save(update_fields=[*checked, "updated_at"])
        return credential

    credential = None
    if pending.kind == ValidationKind.UPDATE:
        credential = Credential.objects.select_for_update().filter(pk=pending.credential_id).first()
        if credential is None:
            raise ApplicationError("The credential was deleted while the edit was being checked.")
    return credential_store(
        workspace=pending.workspace,
        provider=pending.provider,
        model_name=pending.model_name,
        model_type=pending.model_type,
        name=pending.name,
        config=pending.config,
        secrets=json.loads(pending.secret_payload or "{}"),
        credential=credential,
        acting_user=pending.created_by,
        add_to_pool=pending.add_to_pool,
        model_features=pending.model_features,
        checked_at=now,
    )


def credential_store(
    *,
    workspace: Workspace,
    provider: str,
    model_name: str = "",
    model_type: str = "",
    name: str,
    config: dict[str, Any],
    secrets: dict[str, Any],
    credential: Credential | None,
    acting_user: Actor | None,
    add_to_pool: dict | None = None,
    changed: list[str] | None = None,
    checked_at=None,
    model_features: list[str] | None = None,
) -> Credential:
    """Save values the provider has just accepted, inside the caller's transaction: new values
    for `credential`, or a new credential (the first of its scope becomes the default; a
    custom model's name + type that does not exist yet is created; `add_to_pool` makes it
    join that pool). Audited, with `changed` (field names, never values) when given.

    Only callers that validated first come here: `pending_validation_run` and `apply_providers`.
    """
    checked_at = checked_at or timezone.now()
    scope = {
        "workspace": workspace,
        "provider": provider,
        "model_name": model_name,
        "model_type": model_type,
    }
    created = credential is None
    if created:
        in_scope = Credential.objects.select_for_update().filter(**scope)
        first_in_scope = not list(in_scope.defer("secret_data"))  # lock the rows, then decide
        if model_name:
            # Adding a credential to a name + type that exists adds it to that model.
            custom_model_ensure(
                workspace=workspace,
                provider=provider,
                name=model_name,
                model_type=model_type,
                acting_user=acting_user,
                features=model_features,
            )
        credential = Credential(
            **scope, is_default=first_in_scope, created_by=actor_user(acting_user)
        )
    credential.name = name
    credential.set_values(config=config, secrets=secrets, checked_at=checked_at)
    credential.save(force_insert=created)
    credential_saved.send(
        sender=Credential,
        credential=credential,
        created=created,
        add_to_pool=add_to_pool if created else None,
        acting_user=acting_user,
    )
    _restore_on_commit(credential)
    details = {"provider": provider, "model": model_name, "default": credential.is_default}
    if changed:
        details["changed"] = list(changed)
    audit_record(
        workspace=workspace,
        actor=acting_user,
        action="credential.create" if created else "credential.update",
        target=credential,
        details=details,
    )
    return credential


def _restore_on_commit(credential: Credential) -> None:
    """Once saved as working, the credential is back in rotation in every pool of its scope."""
    transaction.on_commit(lambda: credential_working.send(sender=Credential, credential=credential))


def _apply_failure(pending: PendingValidation, error: ProviderError) -> None:
    now = timezone.now()
    # Keep what was typed a little longer so the form can be resubmitted without retyping.
    pending.expires_at = now + timedelta(seconds=settings.CREDENTIAL_RETRY_WINDOW)
    jobs.job_fail(pending, code=error.code, message=error.message, hint=error.hint)
    if pending.kind == ValidationKind.CHECK and pending.credential_id:
        config_changed(pending.workspace_id, ConfigKind.CREDENTIALS)
        Credential.objects.filter(pk=pending.credential_id).update(
            **Credential.check_result(error, now)
        )
    audit_record(
        workspace=pending.workspace,
        actor=pending.created_by,
        action=f"credential.{pending.kind}",
        object_type="credential",
        object_id=str(pending.credential_id or ""),
        object_repr=f"{pending.name} ({pending.provider})",
        outcome="failure",
        details={"provider": pending.provider, "error": error.code},
    )


def pending_validation_expire_if_overdue(*, pending: PendingValidation) -> PendingValidation:
    """Called when a page polls: past the deadline, the request ends as "timed out"."""
    return jobs.job_expire_if_overdue(pending)


def pending_validations_sweep(*, now=None) -> int:
    """Wipe typed secrets past their time and delete old finished requests."""
    now = now or timezone.now()
    overdue = PendingValidation.objects.filter(
        status__in=[ValidationStatus.QUEUED, ValidationStatus.RUNNING], expires_at__lte=now
    )
    for pending in overdue:
        pending_validation_expire_if_overdue(pending=pending)
    wiped = PendingValidation.objects.filter(
        expires_at__lte=now, secret_payload__isnull=False
    ).update(secret_payload=None)
    PendingValidation.objects.filter(created_at__lte=now - timedelta(days=1)).delete()
    return wiped


# --- direct changes ----------------------------------------------------------------------------


@transaction.atomic
def credential_set_default(*, credential: Credential, acting_user: Actor) -> Credential:
    """Make a credential the default of its scope; the previous default stops being one."""
    require_manager(workspace=credential.workspace, user=acting_user)
    scope = list(Credential.objects.select_for_update().filter(**_scope(credential)))
    target = next((c for c in scope if c.pk == credential.pk), None)
    if target is None:
        raise ApplicationError("That credential was deleted meanwhile.")
    if target.is_default:
        return target
    config_changed(credential.workspace_id, ConfigKind.CREDENTIALS)  # Default Config: this one
    Credential.objects.filter(**_scope(credential), is_default=True).update(is_default=False)
    target.is_default = True
    target.save(update_fields=["is_default", "updated_at"])
    audit_record(
        workspace=target.workspace,
        actor=acting_user,
        action="credential.default",
        target=target,
        details={"provider": target.provider, "model": target.model_name},
    )
    return target


@dataclass(frozen=True)
class CredentialDeleted:
    was_default: bool  # the scope has no default now
    model_deleted: bool  # it was a custom model's only credential, so the model went too
    pools_stopped: tuple[str, ...] = ()  # models whose load balancing stopped (too few entries)
    # environments that pinned it and follow the default now: "Development (openai)"
    pins_cleared: tuple[str, ...] = ()


@transaction.atomic
def credential_delete(*, credential: Credential, acting_user: Actor) -> CredentialDeleted:
    """Delete a credential; a custom model losing its only credential is deleted with it.
    The page, the Django admin (one or in bulk) and `apply_providers --prune` all come here."""
    require_manager(workspace=credential.workspace, user=acting_user)
    scope = list(
        Credential.objects.select_for_update().filter(**_scope(credential)).defer("secret_data")
    )
    target = next((c for c in scope if c.pk == credential.pk), None)
    if target is None:
        raise ApplicationError("That credential was deleted meanwhile.")
    was_default = target.is_default
    audit_record(
        workspace=target.workspace,
        actor=acting_user,
        action="credential.delete",
        target=target,
        details={
            "provider": target.provider,
            "model": target.model_name,
            "was_default": was_default,
        },
    )
    answers = credential_deleting.send(
        sender=Credential, credential=target, acting_user=acting_user
    )
    target.delete()
    model_deleted = False
    if target.model_name and len(scope) == 1:
        model_deleted = bool(
            CustomModel.objects.filter(
                workspace=target.workspace,
                provider=target.provider,
                name=target.model_name,
                type=target.model_type,
            ).delete()[0]
        )
    return CredentialDeleted(
        was_default=was_default,
        model_deleted=model_deleted,
        pools_stopped=tuple(
            model for _, answer in answers for model in (answer or {}).get("pools_stopped", ())
        ),
        pins_cleared=tuple(
            line for _, answer in answers for line in (answer or {}).get("pins_cleared", ())
        ),
    )


def custom_model_ensure(
    *,
    workspace: Workspace,
    provider: str,
    name: str,
    model_type: str,
    acting_user: Actor | None,
    features: list[str] | tuple[str, ...] | None = None,
) -> CustomModel:
    """The custom model of a name + type, created when a credential for it is first saved,
    with `features` (None: the type's defaults). An existing model keeps its features."""
    if features is None:
        features = default_custom_model_features(model_type)
    model, created = CustomModel.objects.get_or_create(
        workspace=workspace,
        provider=provider,
        name=name,
        type=model_type,
        defaults={
            "created_by": actor_user(acting_user),
            "features": clean_model_features(features),
        },
    )
    if created:
        config_changed(workspace.pk, ConfigKind.MODELS)
        audit_record(
            workspace=workspace,
            actor=acting_user,
            action="model.add",
            target=model,
            details={"features": model.features},
        )
    return model


def clean_model_features(features) -> list[str]:
    """The catalog's feature words, in the catalog's order; ApplicationError naming any other."""
    if not isinstance(features, (list, tuple)):
        raise ApplicationError("Features must be a list.", field="features")
    unknown = [f for f in features if f not in MODEL_FEATURES]
    if unknown:
        raise ApplicationError(
            f"Unknown feature {str(unknown[0])[:50]!r}: use {', '.join(MODEL_FEATURES)}.",
            field="features",
        )
    return [f for f in MODEL_FEATURES if f in features]


@transaction.atomic
def custom_model_set_features(
    *, custom_model: CustomModel, features: list[str] | tuple[str, ...], acting_user: Actor
) -> CustomModel:
    """What a custom model can do (its page, YAML, the admin, Refresh models): the gateway
    refuses a chat that needs a feature left out. Audited with the old and new lists."""
    require_manager(workspace=custom_model.workspace, user=acting_user)
    cleaned = clean_model_features(features)
    model = CustomModel.objects.select_for_update().get(pk=custom_model.pk)
    if model.features == cleaned:
        return model
    before, model.features = model.features, cleaned
    model.save(update_fields=["features"])
    config_changed(model.workspace_id, ConfigKind.MODELS)
    audit_record(
        workspace=model.workspace,
        actor=acting_user,
        action="model.features",
        target=model,
        details={"before": before, "after": cleaned},
    )
    return model
