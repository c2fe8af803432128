"""Which credential serves a call to a model, and the call itself with cooldowns and failover.

`invoke(workspace=..., ref=..., call=...)` is what every model call goes through (the Python
API, the gateway and the playground build on it): with load balancing on, the routing engine
picks the entry, failing over to the next one after a cooldown-worthy error; otherwise the
scope's default credential serves. Either way an authentication failure or an exhausted quota
marks the credential failing, so admins see it on the page, and the pool's live counts learn
the outcome.

Each call is made in an environment of the workspace (its API key's, or the one chosen in the
playground; None is the default environment). What the environment pins comes first: its own
pool for the model, else the credential it pins for the model, else the one it pins for the
provider (predefined models). What it does not pin follows the workspace: the model's pool,
else the scope's default credential. A pool's Default Config entry is the environment's pinned
credential when it has one.

A model's route (pool entries resolved to credentials) is read from the database and reused by
this process for `LOAD_BALANCING_CONFIG_CACHE_SECONDS` (workspaces/config_cache.py): a change
of the workspace's credentials or pools, or of the system offers, drops it in every process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from django.db.models import Q
from django.utils import timezone
from urllib3 import HTTPHeaderDict

from balancing.models import Pool
from balancing.routing import PoolUnavailable
from balancing.runtime import get_router, get_stats
from balancing.selectors import environment_pins, in_environment, pinned_for
from credentials.crypto import SecretDecryptionError, SecretUnreadable
from credentials.models import Credential, CredentialStatus
from system.models import SystemCredential
from system.selectors import system_offer
from upstream.errors import AuthenticationFailed, ProviderError, QuotaExhausted
from workspaces.config_cache import ConfigCache, ConfigKind, config_changed
from workspaces.models import Workspace

if TYPE_CHECKING:
    from balancing.services import ModelRef

T = TypeVar("T")


class NoCredential(ProviderError):
    code = "no_credential"
    title = "No credential"
    hint = "Add a credential for this model, or select one as the default."
    http_status = 403
    error_type = "permission_error"


@dataclass(frozen=True)
class Route:
    """How calls to one model are served right now."""

    pool_key: str | None  # None: the default credential serves (no load balancing)
    entry_ids: tuple[str, ...]  # credential ids in rotation order, repeated by weight
    credentials: Mapping[str, Credential]
    default: Credential | None
    failing_ids: frozenset[str] = field(default_factory=frozenset)  # left out of rotation
    names: Mapping[str, str] = field(default_factory=dict)  # for error messages


@dataclass(frozen=True)
class Served(Generic[T]):
    value: T
    credential: Credential
    pool_key: str | None


_routes: ConfigCache[Route] = ConfigCache(
    "routes",
    depends_on=(ConfigKind.CREDENTIALS, ConfigKind.POOLS, ConfigKind.SYSTEM_OFFERS),
    seconds_setting="LOAD_BALANCING_CONFIG_CACHE_SECONDS",
    size_setting="CONFIG_CACHE_SIZE",
)


def route_for(
    *,
    workspace: Workspace,
    ref: ModelRef,
    source: str = "custom",
    environment: int | None = None,
) -> Route:
    if source == "system":  # the operator's credentials: the same in every environment
        key = (workspace.pk, ref.provider, ref.name, ref.type, ref.custom, source)
        return _routes.get_or_load(
            key, lambda: _system_route(workspace=workspace, ref=ref), workspace_id=workspace.pk
        )
    key = (workspace.pk, ref.provider, ref.name, ref.type, ref.custom, source, environment)
    return _routes.get_or_load(
        key,
        lambda: _build_route(workspace=workspace, ref=ref, environment=environment),
        workspace_id=workspace.pk,
    )


def _pinned(
    *, workspace: Workspace, ref: ModelRef, environment: int | None, credentials: dict
) -> Credential | None:
    pins = environment_pins(workspace=workspace, environment_id=environment, provider=ref.provider)
    pinned = pinned_for(pins, name=ref.name, model_type=ref.type, custom=ref.custom)
    return credentials.get(str(pinned)) if pinned is not None else None


def _build_route(*, workspace: Workspace, ref: ModelRef, environment: int | None = None) -> Route:
    try:
        credentials = {
            str(c.pk): c
            for c in Credential.objects.filter(
                workspace=workspace, provider=ref.provider, **ref.credential_scope
            )
        }
    except SecretDecryptionError:
        raise SecretUnreadable(f"a credential of {ref.provider}/{ref.name}") from None
    pinned = _pinned(workspace=workspace, ref=ref, environment=environment, credentials=credentials)
    default = pinned or next((c for c in credentials.values() if c.is_default), None)
    pool = None
    if workspace.load_balancing_allowed:
        pools = {
            p.environment_id is not None: p
            for p in Pool.objects.filter(
                Q(environment__isnull=True) | Q(**in_environment(environment)),
                workspace=workspace,
                provider=ref.provider,
                model_name=ref.name,
                model_type=ref.type,
                custom=ref.custom,
                enabled=True,
            ).only(
                "pk",
                "workspace_id",
                "provider",
                "model_name",
                "model_type",
                "custom",
                "environment_id",
            )
        }
        # The environment's own pool; else, unless it pins a credential, the workspace's.
        pool = pools.get(True) or (None if pinned else pools.get(False))
    if pool is None:
        return Route(None, (), credentials, default)
    ids, failing = [], set()
    for credential_id in pool.entries.filter(enabled=True).values_list("credential_id", flat=True):
        credential = default if credential_id is None else credentials.get(str(credential_id))
        if credential is None:
            continue  # a Default Config entry while the scope has no default: skipped
        if credential.status == CredentialStatus.FAILING:
            failing.add(str(credential.pk))
            continue
        ids.append(str(credential.pk))
    names = {pk: f"“{credential.name}”" for pk, credential in credentials.items()}
    return Route(pool.key, tuple(ids), credentials, default, frozenset(failing), names)


def _system_route(*, workspace: Workspace, ref: ModelRef) -> Route:
    """The operator's working credentials of the provider, rotated and failed over like a
    pool shared by every workspace (their quotas are charged by the caller)."""
    offer = system_offer(ref.provider)
    credentials = {f"system-{c.pk}": c for c in (offer.credentials if offer else ())}
    names = {key: f"“{c.name}” (system)" for key, c in credentials.items()}
    return Route(
        f"system:{ref.provider}", tuple(credentials), credentials, None, frozenset(), names
    )


def invoke(
    *,
    workspace: Workspace,
    ref: ModelRef,
    call: Callable[[Credential], T],
    source: str = "custom",
    environment: int | None = None,
) -> Served[T]:
    """Serve one call to the model with `call(credential)`; see the module docstring.
    `source="system"` serves it with the operator's credentials (system providers);
    `environment` (an id; None: the default one) picks whose pins serve it."""
    route = route_for(workspace=workspace, ref=ref, source=source, environment=environment)
    if route.pool_key is None:
        credential = route.default
        if credential is None:
            what = "the model" if ref.custom else "the provider"
            raise NoCredential(f"{ref.provider}/{ref.name}: {what} has no default credential")
        return Served(_attempt(call, credential, pool_key=None), credential, None)
    if not route.entry_ids:
        raise PoolUnavailable(
            f"all {len(route.failing_ids)} credentials of the pool are failing"
            if route.failing_ids
            else "the pool has no usable entry",
            hint="Fix the failing credentials (Check now), or add a working one to the pool.",
        )
    entry_id, value = get_router().invoke(
        route.pool_key,
        route.entry_ids,
        lambda entry: _attempt(
            call, route.credentials[entry], pool_key=route.pool_key, entry=entry
        ),
        names=route.names,
    )
    return Served(value, route.credentials[entry_id], route.pool_key)


def _attempt(
    call: Callable[[Credential], T],
    credential: Credential,
    *,
    pool_key: str | None,
    entry: str | None = None,
):
    entry = entry or str(credential.pk)
    try:
        value = call(credential)
    except ProviderError as error:
        if pool_key:
            get_stats().record(pool_key, entry, ok=False)
        if isinstance(error, (AuthenticationFailed, QuotaExhausted)):
            credential_mark_failing(credential=credential, error=error)
        raise
    if pool_key:
        get_stats().record(pool_key, entry, ok=True)
        headers = getattr(value, "headers", None)
        if headers:
            remaining, reset = rate_limit_status(headers)
            if remaining == 0:
                get_router().note_rate_limit(
                    pool_key, entry, remaining=remaining, reset_seconds=reset
                )
    return value


def credential_mark_failing(*, credential: Credential, error: ProviderError) -> None:
    """A call proved the credential unusable: it shows as failing until it validates again."""
    model = type(credential)  # a workspace Credential, or an operator's SystemCredential
    model.objects.filter(pk=credential.pk).update(**model.check_result(error, timezone.now()))
    if isinstance(credential, SystemCredential):
        config_changed(None, ConfigKind.SYSTEM_OFFERS)
    else:
        config_changed(credential.workspace_id, ConfigKind.CREDENTIALS)


# -- rate-limit headers ------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(value: str | None) -> float | None:
    """OpenAI's "6m0s", "1.5s", "20ms", plain seconds, or an RFC 3339 time (Anthropic)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return sum(float(n) * _UNIT[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


_BUDGET_HEADERS = tuple(
    pair
    for dimension in ("requests", "tokens")
    for pair in (
        (f"x-ratelimit-remaining-{dimension}", f"x-ratelimit-reset-{dimension}"),
        (f"anthropic-ratelimit-{dimension}-remaining", f"anthropic-ratelimit-{dimension}-reset"),
    )
)


def rate_limit_status(headers: Mapping[str, str]) -> tuple[int | None, float | None]:
    """(remaining, seconds until reset) from a provider's rate-limit headers.

    `remaining` is the lowest of the request and token budgets the headers report (None when
    they report none); the reset is the one of the exhausted budget, or Retry-After.
    """
    if isinstance(headers, HTTPHeaderDict):  # case-insensitive already: no copy needed
        lowered = headers
    else:
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    lowest, reset_name = None, None
    for remaining_name, reset_header in _BUDGET_HEADERS:
        remaining = _int(lowered.get(remaining_name))
        if remaining is not None and (lowest is None or remaining < lowest):
            lowest, reset_name = remaining, reset_header
    if lowest is None:
        return None, None
    if lowest > 0:
        return lowest, _seconds(lowered.get(reset_name))
    # Exhausted: the latest reset among the exhausted budgets, else Retry-After.
    resets = [
        _seconds(lowered.get(reset_header))
        for remaining_name, reset_header in _BUDGET_HEADERS
        if _int(lowered.get(remaining_name)) == 0
    ]
    reset = max((r for r in resets if r), default=None)
    return 0, reset or _seconds(lowered.get("retry-after"))
