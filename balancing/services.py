"""Writes to load-balancing pools. Each checks the role (and the plan) and writes the audit row.

The rules (DESIGN.md section 7): an entry is a credential of the model's scope or the Default
Config; the same credential may be added several times; turning load balancing on needs at
least two enabled entries, and while it is on, no change may leave fewer; turning it off keeps
the pool. Deleting a credential removes its entries, and a pool left with fewer than two
enabled entries stops balancing with a warning. The operator (`Operator`: the Django admin,
`apply_providers`) comes through the same functions, without a workspace role.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from django.db import IntegrityError, transaction
from django.db.models import F, Max

from credentials.models import Credential, CustomModel
from upstream.registry import get_provider
from workspaces.actors import Actor, actor_user
from workspaces.config_cache import ConfigKind, config_changed
from workspaces.exceptions import ApplicationError, NotAllowed
from workspaces.models import Environment, Workspace
from workspaces.services import audit_record, require_manager

from .models import MAX_ENTRIES, Pin, Pool, PoolEntry
from .runtime import get_router

logger = logging.getLogger(__name__)

MIN_ENTRIES = 2
TOO_FEW = (
    "Load balancing needs at least two enabled entries. Add a credential (or the same one "
    "again) first."
)


@dataclass(frozen=True)
class ModelRef:
    """Which model a pool belongs to: a predefined model of the catalog or a custom model."""

    provider: str
    name: str
    type: str
    custom: bool = False
    # The pool's environment: None for the workspace's pool, an id for that environment's own.
    environment: int | None = None

    @property
    def credential_scope(self) -> dict[str, str]:
        """The credentials that may serve it: the provider's, or the custom model's own."""
        if self.custom:
            return {"model_name": self.name, "model_type": self.type}
        return {"model_name": "", "model_type": ""}

    @property
    def query(self) -> str:
        from urllib.parse import urlencode

        params = {"model": self.name, "type": self.type}
        if self.custom:
            params["custom"] = "1"
        if self.environment:
            params["env"] = str(self.environment)
        return urlencode(params)

    @property
    def workspace_ref(self) -> ModelRef:
        """The same model without an environment (the workspace's pool)."""
        return replace(self, environment=None) if self.environment else self


def model_ref_check(*, workspace: Workspace, ref: ModelRef) -> ModelRef:
    """The ref if the model exists for the workspace; ApplicationError naming what is wrong."""
    provider = get_provider(ref.provider)
    if provider is None:
        raise ApplicationError("Unknown provider.")
    if ref.custom:
        exists = CustomModel.objects.filter(
            workspace=workspace, provider=ref.provider, name=ref.name, type=ref.type
        ).exists()
    else:
        exists = any(m.name == ref.name and m.type == ref.type for m in provider.models)
    if not exists:
        kind = "custom" if ref.custom else "predefined"
        raise ApplicationError(f"{ref.provider}/{ref.name} is not a {kind} {ref.type} model here.")
    if (
        ref.environment
        and not Environment.objects.filter(pk=ref.environment, workspace=workspace).exists()
    ):
        raise ApplicationError("That environment does not exist in this workspace.")
    return ref


def require_load_balancing(workspace: Workspace) -> None:
    reason = workspace.load_balancing_blocked_reason
    if reason:
        raise NotAllowed(reason)


def _pool_for_update(*, workspace: Workspace, ref: ModelRef, create: bool) -> Pool | None:
    lookup = {
        "workspace": workspace,
        "provider": ref.provider,
        "model_name": ref.name,
        "model_type": ref.type,
        "custom": ref.custom,
        "environment_id": ref.environment,
    }
    pool = Pool.objects.select_for_update().filter(**lookup).first()
    if pool is None and create:
        try:
            with transaction.atomic():
                pool = Pool.objects.create(**lookup)
        except IntegrityError:  # created by a concurrent request: use that one
            pool = Pool.objects.select_for_update().get(**lookup)
    return pool


def _manage(workspace: Workspace, user: Actor) -> None:
    require_manager(workspace=workspace, user=user)
    require_load_balancing(workspace)


def _pool_changed(pool: Pool, actor: Actor | None) -> None:
    pool.updated_by = actor_user(actor)
    pool.save(update_fields=["updated_by", "updated_at"])
    config_changed(pool.workspace_id, ConfigKind.POOLS)


def _enabled_count(pool: Pool) -> int:
    return pool.entries.filter(enabled=True).count()


@transaction.atomic
def pool_entry_add(
    *,
    workspace: Workspace,
    ref: ModelRef,
    credential: Credential | None,
    acting_user: Actor,
) -> PoolEntry:
    """Append an entry: `credential`, or the Default Config when None. A new pool starts with
    a Default Config entry, as the model's calls use that until load balancing is on."""
    _manage(workspace, acting_user)
    model_ref_check(workspace=workspace, ref=ref)
    if credential is not None:
        _check_scope(credential, workspace=workspace, ref=ref)
    return _entry_append(workspace=workspace, ref=ref, credential=credential, actor=acting_user)


def pool_entry_join(
    *, credential: Credential, target: dict, acting_user: Actor | None
) -> PoolEntry:
    """A credential added from a pool's Add credential joins it once validated and saved
    (inside the save's transaction). The plan, the model and the credential's scope are checked
    again, as when the request was made; the cap and the audit row are `pool_entry_add`'s: a
    full pool refuses."""
    target = pool_target_check(
        workspace=credential.workspace,
        provider_key=credential.provider,
        target=target,
        model_name=credential.model_name,
        model_type=credential.model_type,
    )
    ref = ModelRef(
        provider=credential.provider,
        name=target["model"],
        type=target["type"],
        custom=bool(target.get("custom")),
        environment=target.get("env"),
    )
    return _entry_append(
        workspace=credential.workspace, ref=ref, credential=credential, actor=acting_user
    )


def pool_target_check(
    *, workspace: Workspace, provider_key: str, target: dict, model_name: str, model_type: str
) -> dict:
    """The pool a new credential of `model_name`/`model_type` will join (Load balancing → Add
    credential → new), as {"model", "type", "custom", "env"} (`env`: an environment's own pool,
    else None): asked when the credential is submitted, so the save is unlikely to fail on it,
    and again when it is saved (`pool_entry_join`)."""
    require_load_balancing(workspace)
    env = target.get("env")
    if env is not None and not (
        isinstance(env, int) and Environment.objects.filter(pk=env, workspace=workspace).exists()
    ):
        raise ApplicationError("That environment does not exist in this workspace.")
    ref = ModelRef(
        provider=provider_key,
        name=str(target.get("model") or ""),
        type=str(target.get("type") or ""),
        custom=bool(target.get("custom")),
        environment=env,
    )
    if ref.custom and (ref.name, ref.type) != (model_name, model_type):
        raise ApplicationError("The credential must belong to the model whose pool it joins.")
    if not ref.custom and model_name:
        raise ApplicationError("A provider credential is needed for this model's pool.")
    if not ref.custom:
        model_ref_check(workspace=workspace, ref=ref)
    pool_room_check(workspace=workspace, ref=ref)
    return {"model": ref.name, "type": ref.type, "custom": ref.custom, "env": env}


def pool_room_check(*, workspace: Workspace, ref: ModelRef) -> None:
    """ApplicationError when the model's pool is full (asked before a new credential that
    will join it is validated; `_entry_append` asks again under the lock)."""
    pool = _pool_for_update(workspace=workspace, ref=ref, create=False)
    if pool is not None and pool.entries.count() >= MAX_ENTRIES:
        raise ApplicationError(_FULL)


_FULL = f"A pool holds at most {MAX_ENTRIES} entries."


def _entry_append(
    *, workspace: Workspace, ref: ModelRef, credential: Credential | None, actor: Actor | None
) -> PoolEntry:
    """The one way an entry is appended: the pool locked (created with its Default Config
    entry first), the cap, the routes forgotten, the audit row."""
    pool = _pool_for_update(workspace=workspace, ref=ref, create=True)
    entries = pool.entries.count()
    if entries == 0 and credential is not None:
        PoolEntry.objects.create(pool=pool, credential=None, position=0)
        entries = 1
    if entries >= MAX_ENTRIES:
        raise ApplicationError(_FULL)
    last = pool.entries.aggregate(last=Max("position"))["last"]
    entry = PoolEntry.objects.create(
        pool=pool, credential=credential, position=0 if last is None else last + 1
    )
    _pool_changed(pool, actor)
    audit_record(
        workspace=workspace,
        actor=actor,
        action="pool.entry_add",
        object_type="pool",
        object_id=str(pool.pk),
        object_repr=_describe(pool),
        details={"entry": str(entry), "credential": credential.pk if credential else None},
    )
    return entry


def _check_scope(credential: Credential, *, workspace: Workspace, ref: ModelRef) -> None:
    scope = ref.credential_scope
    if (
        credential.workspace_id != workspace.pk
        or credential.provider != ref.provider
        or credential.model_name != scope["model_name"]
        or credential.model_type != scope["model_type"]
    ):
        raise ApplicationError(
            "That credential cannot serve this model: pick one of "
            + ("the model's own credentials." if ref.custom else "the provider's credentials."),
            field="credential",
        )


def _locked_entry(entry: PoolEntry) -> tuple[Pool, PoolEntry]:
    pool = Pool.objects.select_for_update().filter(pk=entry.pool_id).first()
    locked = PoolEntry.objects.filter(pk=entry.pk, pool=pool).first() if pool else None
    if locked is None:
        raise ApplicationError("That entry was removed meanwhile.")
    return pool, locked


def _describe(pool: Pool) -> str:
    """ "openai/gpt-4o", or "openai/gpt-4o in Development" for an environment's own pool."""
    where = f" in {pool.environment.name}" if pool.environment_id else ""
    return f"{pool.provider}/{pool.model_name}{where}"


@transaction.atomic
def pool_entry_set_enabled(*, entry: PoolEntry, enabled: bool, acting_user: Actor) -> PoolEntry:
    pool, entry = _locked_entry(entry)
    _manage(pool.workspace, acting_user)
    if entry.enabled == enabled:
        return entry
    if not enabled and pool.enabled and _enabled_count(pool) - 1 < MIN_ENTRIES:
        raise ApplicationError(
            "Load balancing is on and needs at least two enabled entries: turn it off first, "
            "or add another entry before disabling this one."
        )
    entry.enabled = enabled
    entry.save(update_fields=["enabled"])
    _pool_changed(pool, acting_user)
    audit_record(
        workspace=pool.workspace,
        actor=acting_user,
        action="pool.entry_enable" if enabled else "pool.entry_disable",
        object_type="pool",
        object_id=str(pool.pk),
        object_repr=_describe(pool),
        details={"entry": str(entry)},
    )
    return entry


@transaction.atomic
def pool_entry_move(*, entry: PoolEntry, offset: int, acting_user: Actor) -> PoolEntry:
    """Move an entry up (-1) or down (+1); positions are renumbered 0..n-1."""
    pool, entry = _locked_entry(entry)
    _manage(pool.workspace, acting_user)
    entries = list(pool.entries.all())
    index = next(i for i, e in enumerate(entries) if e.pk == entry.pk)
    target = index + (1 if offset > 0 else -1)
    if not 0 <= target < len(entries):
        return entry
    entries[index], entries[target] = entries[target], entries[index]
    for position, item in enumerate(entries):
        if item.position != position:
            PoolEntry.objects.filter(pk=item.pk).update(position=position)
    _pool_changed(pool, acting_user)
    audit_record(
        workspace=pool.workspace,
        actor=acting_user,
        action="pool.entry_move",
        object_type="pool",
        object_id=str(pool.pk),
        object_repr=_describe(pool),
        details={"entry": str(entry), "position": target},
    )
    return entry


@transaction.atomic
def pool_entry_remove(*, entry: PoolEntry, acting_user: Actor) -> None:
    pool, entry = _locked_entry(entry)
    _manage(pool.workspace, acting_user)
    if pool.enabled and entry.enabled and _enabled_count(pool) - 1 < MIN_ENTRIES:
        raise ApplicationError(
            "Load balancing is on and needs at least two enabled entries: turn it off first, "
            "or add another entry before removing this one."
        )
    name = str(entry)
    entry.delete()
    PoolEntry.objects.filter(pool=pool, position__gt=entry.position).update(
        position=F("position") - 1
    )
    _pool_changed(pool, acting_user)
    audit_record(
        workspace=pool.workspace,
        actor=acting_user,
        action="pool.entry_remove",
        object_type="pool",
        object_id=str(pool.pk),
        object_repr=_describe(pool),
        details={"entry": name},
    )


@transaction.atomic
def pool_set_enabled(
    *, workspace: Workspace, ref: ModelRef, enabled: bool, acting_user: Actor
) -> Pool | None:
    """Turn load balancing on (needs two enabled entries) or off (the pool is kept)."""
    require_manager(workspace=workspace, user=acting_user)
    if enabled:
        require_load_balancing(workspace)
    model_ref_check(workspace=workspace, ref=ref)
    pool = _pool_for_update(workspace=workspace, ref=ref, create=False)
    if pool is None:
        if enabled:
            raise ApplicationError(TOO_FEW)
        return None
    if enabled:
        count = _enabled_count(pool)
        if count < MIN_ENTRIES:
            raise ApplicationError(
                f"{TOO_FEW} This pool has {count} enabled entr{'y' if count == 1 else 'ies'}."
            )
    if pool.enabled == enabled and not (enabled and pool.warning):
        return pool
    pool.enabled = enabled
    pool.warning = ""
    pool.save(update_fields=["enabled", "warning"])
    _pool_changed(pool, acting_user)
    audit_record(
        workspace=workspace,
        actor=acting_user,
        action="pool.enable" if enabled else "pool.disable",
        object_type="pool",
        object_id=str(pool.pk),
        object_repr=_describe(pool),
    )
    return pool


@transaction.atomic
def pool_configure(
    *,
    workspace: Workspace,
    ref: ModelRef,
    entries: list[tuple[Credential | None, bool]],
    enabled: bool,
    acting_user: Actor,
) -> Pool:
    """Give a model's pool exactly `entries` ((credential or None for the Default Config,
    enabled), in order) and turn it on or off, all at once (`apply_providers`). The rules are
    those of the one-by-one changes: the plan, the model, each credential's scope, the cap,
    and two enabled entries for it to be on."""
    _manage(workspace, acting_user)
    model_ref_check(workspace=workspace, ref=ref)
    for credential, _ in entries:
        if credential is not None:
            _check_scope(credential, workspace=workspace, ref=ref)
    if len(entries) > MAX_ENTRIES:
        raise ApplicationError(_FULL)
    active = sum(1 for _, on in entries if on)
    if enabled and active < MIN_ENTRIES:
        raise ApplicationError(f"{TOO_FEW} This pool would have {active}.")
    pool = _pool_for_update(workspace=workspace, ref=ref, create=False)
    created = pool is None
    if created:
        pool = _pool_for_update(workspace=workspace, ref=ref, create=True)
    pool.entries.all().delete()
    PoolEntry.objects.bulk_create(
        PoolEntry(pool=pool, credential=credential, position=position, enabled=on)
        for position, (credential, on) in enumerate(entries)
    )
    pool.enabled = enabled
    pool.warning = ""
    pool.save(update_fields=["enabled", "warning"])
    _pool_changed(pool, acting_user)
    audit_record(
        workspace=workspace,
        actor=acting_user,
        action="pool.create" if created else "pool.update",
        object_type="pool",
        object_id=str(pool.pk),
        object_repr=_describe(pool),
        details={
            "entries": [c.name if c else "Default Config" for c, _ in entries],
            "enabled": enabled,
        },
    )
    return pool


@transaction.atomic
def pool_delete(*, pool: Pool, acting_user: Actor) -> None:
    """Delete a model's pool and its entries; its calls go back to the default credential."""
    pool = Pool.objects.select_for_update().filter(pk=pool.pk).select_related("workspace").first()
    if pool is None:
        return
    require_manager(workspace=pool.workspace, user=acting_user)
    audit_record(
        workspace=pool.workspace,
        actor=acting_user,
        action="pool.delete",
        object_type="pool",
        object_id=str(pool.pk),
        object_repr=_describe(pool),
    )
    config_changed(pool.workspace_id, ConfigKind.POOLS)
    pool.delete()


def pools_after_credential_delete(
    *, credential: Credential, acting_user: Actor | None
) -> list[Pool]:
    """Run inside the credential's delete transaction, before the row goes: its entries go
    with it (cascade), and every balancing pool left with fewer than two enabled entries
    stops, with a warning the model page and the providers list show."""
    config_changed(credential.workspace_id, ConfigKind.CREDENTIALS)
    pool_ids = set(credential.pool_entries.values_list("pool_id", flat=True))
    if not pool_ids:
        return []
    config_changed(credential.workspace_id, ConfigKind.POOLS)  # its entries go with it
    stopped = []
    pools = Pool.objects.select_for_update().filter(pk__in=pool_ids, enabled=True)
    for pool in pools:
        remaining = pool.entries.filter(enabled=True).exclude(credential=credential).count()
        if remaining >= MIN_ENTRIES:
            continue
        pool.enabled = False
        pool.warning = (
            f"Load balancing stopped: the credential “{credential.name}” was deleted, leaving "
            f"{remaining} enabled entr{'y' if remaining == 1 else 'ies'}. Add entries and turn "
            "it on again."
        )[:300]
        pool.save(update_fields=["enabled", "warning", "updated_at"])
        stopped.append(pool)
        audit_record(
            workspace=pool.workspace,
            actor=acting_user,
            action="pool.stopped",
            object_type="pool",
            object_id=str(pool.pk),
            object_repr=_describe(pool),
            details={"credential": credential.name},
        )
    return stopped


def credential_restored(*, credential: Credential) -> None:
    """A credential validated again: every pool of its scope takes it back into rotation."""
    keys = [
        pool.key
        for pool in Pool.objects.filter(
            workspace_id=credential.workspace_id,
            provider=credential.provider,
            custom=bool(credential.model_name),
            **(
                {"model_name": credential.model_name, "model_type": credential.model_type}
                if credential.model_name
                else {}
            ),
        )
    ]
    router = get_router()
    for key in keys:
        router.restore(key, str(credential.pk))
    config_changed(credential.workspace_id, ConfigKind.CREDENTIALS)


# Receivers of the credentials app's signals (credentials/signals.py), connected in apps.py.


def on_credential_saved(
    *, credential: Credential, created: bool, add_to_pool: dict | None, acting_user, **_signal
) -> None:
    if created and add_to_pool:
        pool_entry_join(credential=credential, target=add_to_pool, acting_user=acting_user)


def on_credential_working(*, credential: Credential, **_signal) -> None:
    credential_restored(credential=credential)


def on_credential_deleting(*, credential: Credential, acting_user, **_signal) -> dict:
    stopped = pools_after_credential_delete(credential=credential, acting_user=acting_user)
    unpinned = pins_after_credential_delete(credential=credential, acting_user=acting_user)
    return {
        "pools_stopped": [_describe(pool) for pool in stopped],
        "pins_cleared": unpinned,
    }


# -- environments' pins --------------------------------------------------------------------------


def _pin_repr(provider: str, ref: ModelRef | None) -> str:
    if ref is None:
        return provider
    return f"{provider}/{ref.name}{' (custom)' if ref.custom else ''} ({ref.type})"


@transaction.atomic
def pin_set(
    *,
    environment: Environment,
    provider: str,
    credential: Credential | None,
    acting_user: Actor,
    ref: ModelRef | None = None,
) -> Pin | None:
    """Pin `credential` in `environment` for the provider's predefined models (`ref` None) or
    for one model (`ref`); `credential` None removes the pin, so the environment follows the
    workspace's default again. Editing the credential keeps its pins."""
    workspace = environment.workspace
    require_manager(workspace=workspace, user=acting_user)
    if get_provider(provider) is None:
        raise ApplicationError("Unknown provider.")
    if ref is not None:
        if ref.provider != provider:
            raise ApplicationError("The model belongs to another provider.")
        model_ref_check(workspace=workspace, ref=ref.workspace_ref)
    scope = ref.workspace_ref if ref is not None else ModelRef(provider, "", "")
    if credential is not None:
        _check_scope(credential, workspace=workspace, ref=scope)
    lookup = {
        "environment": environment,
        "provider": provider,
        "model_name": ref.name if ref else "",
        "model_type": ref.type if ref else "",
        "custom": ref.custom if ref else False,
    }
    if not Environment.objects.select_for_update().filter(pk=environment.pk).exists():
        raise ApplicationError("That environment was deleted meanwhile.")
    pin = Pin.objects.filter(**lookup).first()
    before = pin.credential.name if pin is not None else ""
    if credential is None:
        if pin is None:
            return None
        pin.delete()
    elif pin is not None and pin.credential_id == credential.pk:
        return pin
    elif pin is not None:
        pin.credential = credential
        pin.updated_by = actor_user(acting_user)
        pin.save(update_fields=["credential", "updated_by", "updated_at"])
    else:
        pin = Pin.objects.create(
            workspace=workspace, credential=credential, updated_by=actor_user(acting_user), **lookup
        )
    config_changed(workspace.pk, ConfigKind.POOLS)
    audit_record(
        workspace=workspace,
        actor=acting_user,
        action="environment.pin" if credential is not None else "environment.unpin",
        object_type="pin",
        object_id=str(environment.pk),
        object_repr=_pin_repr(provider, ref),
        details={
            "environment": environment.name,
            **({"credential": credential.name} if credential is not None else {}),
            **({"before": before} if before else {}),
        },
    )
    return pin if credential is not None else None


def pins_after_credential_delete(*, credential: Credential, acting_user: Actor | None) -> list[str]:
    """Run inside the credential's delete transaction, before the row goes: its pins go with
    it (cascade), so those environments follow the default again. Each is audited; returns
    "Development (openai)"-like lines for the answer."""
    lines = []
    pins = Pin.objects.filter(credential=credential).select_related("environment")
    for pin in pins:
        ref = (
            ModelRef(pin.provider, pin.model_name, pin.model_type, pin.custom)
            if pin.model_name
            else None
        )
        what = _pin_repr(pin.provider, ref)
        audit_record(
            workspace=pin.environment.workspace,
            actor=acting_user,
            action="environment.unpin",
            object_type="pin",
            object_id=str(pin.environment_id),
            object_repr=what,
            details={
                "environment": pin.environment.name,
                "before": credential.name,
                "reason": "the credential was deleted",
            },
        )
        lines.append(f"{pin.environment.name} ({what})")
    if lines:
        config_changed(credential.workspace_id, ConfigKind.POOLS)
    return lines
