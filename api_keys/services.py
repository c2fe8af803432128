"""Workspace API keys: create (shown once), revoke, and authenticate a request's key.

A key works while it is not revoked and its creator is a member of its workspace (keys from
`manage.py create_api_key` have no creator and need no member). Ending a membership revokes the
person's keys (`api_keys_revoke_for_member`, on workspaces' `membership_ending` signal);
authentication checks the membership as well, so a membership deleted any other way stops the
keys too.

Each process trusts a key it checked for `API_KEY_CACHE_SECONDS` (5 s, workspaces/config_cache.py):
a revocation made by this process is refused at once, one made by another process within
`CONFIG_CACHE_CHECK_SECONDS` through Redis (within the cache time without it).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from workspaces.config_cache import ConfigCache, ConfigKind, config_changed
from workspaces.exceptions import ApplicationError, NotAllowed
from workspaces.models import Environment, Membership, Role, User, Workspace
from workspaces.services import audit_record, default_environment

from .models import ApiKey

KEY_PREFIX = "mck_"
LAST_USED_EVERY = timedelta(minutes=1)  # how stale `last_used_at` may get (one write a minute)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    api_key: ApiKey
    secret: str  # shown once, never stored


def _membership(workspace: Workspace, user: User) -> Membership:
    membership = Membership.objects.filter(workspace=workspace, user=user).first()
    if membership is None:
        raise NotAllowed("You are not a member of this workspace.")
    return membership


def may_create_key_in(environment: Environment, membership: Membership | None) -> bool:
    """Owners and admins create keys in any environment; other members only in those opened
    to them (Production is, from the start). `membership` None is the operator."""
    if membership is None or Role(membership.role).manages_workspace:
        return True
    return environment.members_create_keys


@transaction.atomic
def api_key_create(
    *,
    workspace: Workspace,
    name: str,
    acting_user: User | None,
    environment: Environment | None = None,
) -> NewKey:
    """Any member may create a key (theirs) in an environment open to them; `acting_user`
    None is the operator's command. The key belongs to `environment` (None: the default)."""
    membership = _membership(workspace, acting_user) if acting_user is not None else None
    if environment is None:
        environment = default_environment(workspace)
    else:  # as it is now (who may create keys in it), and only of this workspace
        environment = Environment.objects.filter(pk=environment.pk, workspace=workspace).first()
        if environment is None:
            raise ApplicationError(
                "That environment is not one of this workspace's.", field="environment"
            )
    if not may_create_key_in(environment, membership):
        raise NotAllowed(
            f"Only owners and admins create keys in {environment.name}: ask one to open it "
            "to members."
        )
    name = " ".join((name or "").split())[:100]
    if not name:
        raise ApplicationError(
            "Give the key a name, e.g. the application that will use it.", field="name"
        )
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        workspace=workspace,
        name=name,
        prefix=raw[: len(KEY_PREFIX) + 6],
        key_hash=_hash(raw),
        environment=environment,
        created_by=acting_user,
        created_by_operator=acting_user is None,
    )
    audit_record(
        workspace=workspace,
        actor=acting_user,
        action="api_key.create",
        object_type="api_key",
        object_id=str(api_key.pk),
        object_repr=str(api_key),
        details={"environment": environment.name},
    )
    return NewKey(api_key, raw)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, acting_user: User) -> ApiKey:
    """Owners and admins revoke any key of the workspace; others only their own."""
    membership = _membership(api_key.workspace, acting_user)
    if api_key.created_by_id != acting_user.pk and not Role(membership.role).manages_workspace:
        raise NotAllowed("Only the owner, an admin or the key's creator can revoke it.")
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            workspace=locked.workspace,
            actor=acting_user,
            action="api_key.revoke",
            object_type="api_key",
            object_id=str(locked.pk),
            object_repr=str(locked),
        )
    config_changed(locked.workspace_id, ConfigKind.KEYS)
    return locked


def _revoke_all(
    keys, *, workspace: Workspace, acting_user: User | None, details: dict
) -> list[ApiKey]:
    """Revoke the active keys `keys` selects (locked), each with an audit row saying why."""
    keys = list(keys.select_for_update().filter(workspace=workspace, revoked_at__isnull=True))
    now = timezone.now()
    for key in keys:
        key.revoked_at = now
        key.save(update_fields=["revoked_at"])
        audit_record(
            workspace=workspace,
            actor=acting_user,
            action="api_key.revoke",
            object_type="api_key",
            object_id=str(key.pk),
            object_repr=str(key),
            details=details,
        )
    config_changed(workspace.pk, ConfigKind.KEYS)
    return keys


def api_keys_revoke_for_member(
    *, workspace: Workspace, user: User, acting_user: User | None, **_signal
) -> list[ApiKey]:
    """Revoke every active key `user` created in `workspace`, because their membership ends.

    Receives workspaces' `membership_ending` signal, sent by every way a membership ends,
    inside its transaction; the role check is the sender's. Each key gets an audit entry."""
    return _revoke_all(
        ApiKey.objects.filter(created_by=user),
        workspace=workspace,
        acting_user=acting_user,
        details={"reason": "membership ended", "member": user.email},
    )


def api_keys_revoke_for_environment(
    *, environment: Environment, acting_user: User | None, **_signal
) -> list[str]:
    """Revoke every active key of an environment being deleted (workspaces'
    `environment_ending` signal, inside its transaction; the role check is the sender's)."""
    keys = _revoke_all(
        ApiKey.objects.filter(environment=environment),
        workspace=environment.workspace,
        acting_user=acting_user,
        details={"reason": "environment deleted", "environment": environment.name},
    )
    return [key.in_words for key in keys]


# Keyed by the key's hash, which names no workspace before the lookup: a revocation in any
# workspace drops the checked keys of all (revocations are rare, a re-check is one query).
_checked: ConfigCache[ApiKey | None] = ConfigCache(
    "API keys",
    depends_on=(ConfigKind.KEYS,),
    seconds_setting="API_KEY_CACHE_SECONDS",
    size_setting="API_KEY_CACHE_SIZE",
)


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active key `raw` names (with its workspace loaded), or None."""
    if not raw or not raw.startswith(KEY_PREFIX) or len(raw) > 200:
        return None
    digest = _hash(raw)
    api_key = _checked.get_or_load(
        digest, lambda: _active_key(digest), workspace_id=None, keep=lambda key: key is not None
    )
    if api_key is not None:
        _touch(api_key)
    return api_key


def _active_key(digest: str) -> ApiKey | None:
    creator_is_member = Exists(
        Membership.objects.filter(workspace=OuterRef("workspace"), user=OuterRef("created_by"))
    )
    return (
        ApiKey.objects.select_related("workspace", "workspace__plan", "environment")
        .filter(key_hash=digest, revoked_at__isnull=True)
        .filter(Q(created_by_operator=True) | Q(creator_is_member))
        .first()
    )


def _touch(api_key: ApiKey) -> None:
    """Keep `last_used_at` within a minute of the truth with one UPDATE a minute at most."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_EVERY:
        return
    api_key.last_used_at = now
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
