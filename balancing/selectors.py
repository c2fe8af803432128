"""Reads for the load-balancing pages: a pool with its entries and shares, its live state,
and the per-model flags the model lists show (icon, warning); and environments' pins: what
each environment uses per provider and model (the Environments page), and which environments
pin a credential (the provider page)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from credentials.models import Credential, CredentialStatus, CustomModel
from upstream.errors import ProviderError
from upstream.registry import get_provider
from upstream.schema import ProviderSpec
from workspaces.models import Environment, Workspace

from .models import Pin, Pool, PoolEntry
from .routing import COOLING_DOWN, FAILING, IN_ROTATION, PROBING
from .runtime import get_router, get_stats
from .services import MIN_ENTRIES, ModelRef


@dataclass(frozen=True)
class EntryRow:
    entry: PoolEntry
    credential: Credential | None  # the credential it resolves to now (None: no default)
    share: float | None = None  # percent of traffic this entry serves (None: not in rotation)
    credential_share: float | None = None  # ... its credential, with its other entries
    copies: int = 0  # enabled entries resolving to the same credential

    @property
    def is_default_config(self) -> bool:
        return self.entry.credential_id is None


@dataclass(frozen=True)
class ShareRow:
    credential: Credential
    count: int
    share: float  # percent of traffic with the pool's enabled entries as they are now


@dataclass(frozen=True)
class PoolView:
    ref: ModelRef
    pool: Pool | None
    entries: list[EntryRow]
    shares: list[ShareRow]
    scope_credentials: list[Credential]
    default: Credential | None
    allowed: bool  # the plan (or the site setting) allows load balancing
    blocked_reason: str

    @property
    def enabled(self) -> bool:
        return bool(self.pool and self.pool.enabled)

    @property
    def active(self) -> bool:
        """Calls are balanced now: switched on and allowed by the plan."""
        return self.enabled and self.allowed

    @property
    def enabled_count(self) -> int:
        return sum(1 for row in self.entries if row.entry.enabled)

    @property
    def can_enable(self) -> bool:
        return self.enabled_count >= MIN_ENTRIES

    @property
    def warning(self) -> str:
        return self.pool.warning if self.pool else ""

    @property
    def skipped_default(self) -> bool:
        """A Default Config entry is enabled while the scope has no default credential."""
        return any(r.entry.enabled and r.credential is None for r in self.entries)


def _pool_lookup(workspace: Workspace, ref: ModelRef) -> dict:
    return {
        "workspace": workspace,
        "provider": ref.provider,
        "model_name": ref.name,
        "model_type": ref.type,
        "custom": ref.custom,
        "environment_id": ref.environment,
    }


def _scope_credentials(workspace: Workspace, ref: ModelRef) -> list[Credential]:
    return list(
        Credential.objects.filter(
            workspace=workspace, provider=ref.provider, **ref.credential_scope
        )
        .defer("secret_data")
        .order_by("created_at", "pk")
    )


def pool_view(*, workspace: Workspace, ref: ModelRef) -> PoolView:
    pool = Pool.objects.filter(**_pool_lookup(workspace, ref)).first()
    credentials = _scope_credentials(workspace, ref)
    default = next((c for c in credentials if c.is_default), None)
    if ref.environment:  # an environment's pool: its Default Config is what it pins, if anything
        default = (
            environment_default(
                workspace=workspace,
                environment_id=ref.environment,
                ref=ref,
                credentials=credentials,
            )
            or default
        )
    by_pk = {c.pk: c for c in credentials}
    resolved = []
    if pool is not None:
        for entry in pool.entries.all():
            credential = default if entry.credential_id is None else by_pk.get(entry.credential_id)
            resolved.append((entry, credential))
    weights = Counter(c.pk for e, c in resolved if e.enabled and c is not None)
    total = sum(weights.values())
    entries = [
        EntryRow(entry, credential)
        if not (entry.enabled and credential)
        else EntryRow(
            entry,
            credential,
            share=100.0 / total,
            credential_share=100.0 * weights[credential.pk] / total,
            copies=weights[credential.pk],
        )
        for entry, credential in resolved
    ]
    shares = [ShareRow(by_pk[pk], count, 100.0 * count / total) for pk, count in weights.items()]
    return PoolView(
        ref=ref,
        pool=pool,
        entries=entries,
        shares=shares,
        scope_credentials=credentials,
        default=default,
        allowed=workspace.load_balancing_allowed,
        blocked_reason=workspace.load_balancing_blocked_reason,
    )


def pool_entry_get_or_404(*, workspace: Workspace, provider: str, pk) -> PoolEntry:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such entry.") from None
    return get_object_or_404(
        PoolEntry.objects.select_related("pool", "credential"),
        pk=pk,
        pool__workspace=workspace,
        pool__provider=provider,
    )


def _error_titles() -> dict[str, str]:
    titles, todo = {}, [ProviderError]
    while todo:
        cls = todo.pop()
        titles.setdefault(cls.code, cls.title)
        todo.extend(cls.__subclasses__())
    return titles


_ERROR_TITLES = _error_titles()


@dataclass(frozen=True)
class LiveRow:
    credential: Credential
    weight: int
    configured_share: float
    state: str  # in rotation, cooling down, failing, probing
    until: datetime | None
    reason: str
    requests_5m: int
    errors_5m: int
    requests_60m: int
    errors_60m: int
    observed_share: float | None  # percent of the last hour's requests, None without traffic

    @property
    def status_code(self) -> str:
        return {
            IN_ROTATION: "active",
            COOLING_DOWN: "cooling-down",
            PROBING: "validating",
            FAILING: "failing",
        }[self.state]

    @property
    def reason_label(self) -> str:
        """Why the entry is out of rotation, in words ("Rate limited")."""
        if not self.reason or self.state == IN_ROTATION:
            return ""
        return _ERROR_TITLES.get(self.reason, self.reason.replace("_", " ").capitalize())

    @property
    def label(self) -> str:
        if self.state in (COOLING_DOWN, PROBING) and self.until:
            local = timezone.localtime(self.until)
            when = f"{local:%H:%M:%S} {local.tzname()}"  # says which zone
            return f"{self.state.capitalize()} until {when}"
        return self.state.capitalize()

    def as_dict(self) -> dict:
        return {
            "credential_id": self.credential.pk,
            "credential": self.credential.name,
            "weight": self.weight,
            "configured_share": round(self.configured_share, 2),
            "state": self.state,
            "until": self.until.isoformat() if self.until else None,
            "reason": self.reason or None,
            "requests_5m": self.requests_5m,
            "errors_5m": self.errors_5m,
            "requests_60m": self.requests_60m,
            "errors_60m": self.errors_60m,
            "observed_share": (
                round(self.observed_share, 2) if self.observed_share is not None else None
            ),
        }


def pool_live(view: PoolView) -> list[LiveRow]:
    """Each credential of the pool now: routing state, recent requests and errors, shares."""
    if view.pool is None or not view.shares:
        return []
    key = view.pool.key
    ids = [str(row.credential.pk) for row in view.shares]
    weighted = [str(r.credential.pk) for r in view.entries if r.entry.enabled and r.credential]
    states = get_router().state(key, weighted)
    windows = get_stats().windows(key, ids, minutes=(5, 60))
    hour_total = sum(c.requests for c in windows[60].values())
    rows = []
    for share in view.shares:
        entry_id = str(share.credential.pk)
        state = states[entry_id]
        name, reason = state.state, state.reason or ""
        if share.credential.status == CredentialStatus.FAILING and name == IN_ROTATION:
            name, reason = FAILING, share.credential.last_error_code or "failing"
        recent, hour = windows[5][entry_id], windows[60][entry_id]
        rows.append(
            LiveRow(
                credential=share.credential,
                weight=share.count,
                configured_share=share.share,
                state=name,
                until=(
                    datetime.fromtimestamp(state.until, tz=timezone.get_current_timezone())
                    if state.until
                    else None
                ),
                reason=reason,
                requests_5m=recent.requests,
                errors_5m=recent.errors,
                requests_60m=hour.requests,
                errors_60m=hour.errors,
                observed_share=100.0 * hour.requests / hour_total if hour_total else None,
            )
        )
    return rows


@dataclass(frozen=True)
class PoolFlag:
    """What a model list shows about a model's pool."""

    active: bool  # load balancing on (icon)
    warning: str  # it stopped on its own: why
    credential_ids: frozenset[int | None] = frozenset()  # enabled entries (None: Default Config)

    def credential_status(
        self, credentials: list[Credential], pinned: Credential | None = None
    ) -> str | None:
        """The model's credential status through its pool: active when any entry's credential
        is, failing when all are, None when no entry resolves to a credential. `pinned`: the
        credential an environment pins, which its pool's Default Config entry stands for."""
        default = pinned or next((c for c in credentials if c.is_default), None)
        resolved = [
            default if pk is None else next((c for c in credentials if c.pk == pk), None)
            for pk in self.credential_ids
        ]
        statuses = {c.status for c in resolved if c is not None}
        if not statuses:
            return None
        return CredentialStatus.ACTIVE if CredentialStatus.ACTIVE in statuses else "failing"


def pool_flags(
    *, workspace: Workspace, provider: str, environment: int | None = None
) -> dict[tuple[str, str, bool], PoolFlag]:
    """{(model name, type, custom): flag} for the provider's pools that are on or warn: the
    workspace's pools, or with `environment` (an id) that environment's own."""
    allowed = workspace.load_balancing_allowed
    pools = list(
        Pool.objects.filter(workspace=workspace, provider=provider, environment_id=environment)
        .filter(Q(enabled=True) | ~Q(warning=""))
        .only("pk", "model_name", "model_type", "custom", "enabled", "warning")
    )
    active = {p.pk for p in pools if p.enabled and allowed}
    entries: dict[int, set] = {pk: set() for pk in active}
    if active:
        for pool_id, credential_id in PoolEntry.objects.filter(
            pool_id__in=active, enabled=True
        ).values_list("pool_id", "credential_id"):
            entries[pool_id].add(credential_id)
    return {
        (p.model_name, p.model_type, p.custom): PoolFlag(
            p.pk in active, p.warning, frozenset(entries.get(p.pk, ()))
        )
        for p in pools
    }


def pool_warning_counts(*, workspace: Workspace) -> dict[str, int]:
    """{provider: number of models whose load balancing stopped on its own}."""
    rows = (
        Pool.objects.filter(workspace=workspace)
        .exclude(warning="")
        .values("provider")
        .annotate(n=Count("pk"))
    )
    return {row["provider"]: row["n"] for row in rows}


@dataclass(frozen=True)
class PoolUsage:
    model_name: str
    count: int  # entries of this credential in the pool
    stops: bool  # deleting the credential stops load balancing on the model


def credential_pool_usage(*, credential: Credential) -> list[PoolUsage]:
    usage = []
    pools = Pool.objects.filter(entries__credential=credential).distinct()
    for pool in pools.select_related("environment").annotate(
        mine=Count("entries", filter=Q(entries__credential=credential)),
        others=Count(
            "entries", filter=Q(entries__enabled=True) & ~Q(entries__credential=credential)
        ),
    ):
        where = f" in {pool.environment.name}" if pool.environment_id else ""
        usage.append(
            PoolUsage(pool.model_name + where, pool.mine, pool.enabled and pool.others < 2)
        )
    return usage


def in_environment(environment_id: int | None) -> dict:
    """A lookup of an environment's pins or pools: None is the workspace's default one."""
    if environment_id is None:
        return {"environment__is_default": True}
    return {"environment_id": environment_id}


PinsByModel = dict[tuple[str, str, bool], int]  # (model name, type, custom) → credential id


def environment_pins(
    *, workspace: Workspace, environment_id: int | None, provider: str
) -> PinsByModel:
    """What the environment (None: the default one) pins for the provider's models;
    ("", "", False) is its provider pin (the predefined models without their own)."""
    return {
        (model_name, model_type, custom): credential_id
        for model_name, model_type, custom, credential_id in Pin.objects.filter(
            workspace=workspace, provider=provider, **in_environment(environment_id)
        ).values_list("model_name", "model_type", "custom", "credential_id")
    }


def pinned_for(pins: PinsByModel, *, name: str, model_type: str, custom: bool) -> int | None:
    """The credential id that serves a model by `pins` (environment_pins): the model's own
    pin, else for a predefined model the provider pin; None: the environment pins none. The
    one rule, for routes (invocation/failover.py), pool pages and model statuses."""
    pinned = pins.get((name, model_type, custom))
    if pinned is None and not custom:
        pinned = pins.get(("", "", False))
    return pinned


def environment_default(
    *, workspace: Workspace, environment_id: int, ref: ModelRef, credentials: list[Credential]
) -> Credential | None:
    """The credential an environment pins for the model, among `credentials` (the model's
    scope); None: it pins none."""
    pins = environment_pins(
        workspace=workspace, environment_id=environment_id, provider=ref.provider
    )
    pinned = pinned_for(pins, name=ref.name, model_type=ref.type, custom=ref.custom)
    return next((c for c in credentials if c.pk == pinned), None)


@dataclass(frozen=True)
class CredentialPin:
    environment: str
    what: str  # "openai" (the provider) or "openai/gpt-4o" (one model)

    @classmethod
    def of(cls, pin: Pin) -> CredentialPin:
        return cls(
            pin.environment.name,
            f"{pin.provider}/{pin.model_name}" if pin.model_name else pin.provider,
        )


def credential_pins(*, credential: Credential) -> list[CredentialPin]:
    """The environments that pin `credential`, and for what (the provider page and the
    delete confirmation show them)."""
    pins = Pin.objects.filter(credential=credential).select_related("environment")
    return [CredentialPin.of(pin) for pin in pins]


def credential_pins_by_id(*, workspace: Workspace, provider: str) -> dict[int, list[CredentialPin]]:
    """{credential id: the environments that pin it} for a provider's credentials, in one
    query (the provider page's credential rows)."""
    pins: dict[int, list[CredentialPin]] = {}
    for pin in (
        Pin.objects.filter(workspace=workspace, provider=provider)
        .select_related("environment")
        .order_by("-environment__is_default", "environment__name", "model_name")
    ):
        pins.setdefault(pin.credential_id, []).append(CredentialPin.of(pin))
    return pins


# -- the Environments page: what each environment uses --------------------------------------


@dataclass(frozen=True)
class EnvironmentCell:
    """What one environment uses for a provider (its predefined models) or one model.

    `kind`: "pinned" (its own pin), "provider-pin" (a predefined model following the
    environment's provider pin), "pool" (its own pool, on), "workspace-pool" (the workspace's
    pool, on) or "default" (the scope's default credential, `credential` None: none).
    """

    environment: Environment
    kind: str
    credential: Credential | None = None
    pin: Pin | None = None  # the environment's pin for exactly this row (what the select shows)
    pool: Pool | None = None  # the environment's own pool for the model, on or off
    pool_query: str = ""  # a model's row: its Load balancing page in this environment

    @property
    def pinned_id(self) -> int | None:
        return self.pin.credential_id if self.pin is not None else None


@dataclass(frozen=True)
class EnvironmentRow:
    """A provider (`ref` None) or one of its models, with a cell per environment."""

    provider: ProviderSpec
    ref: ModelRef | None
    credentials: list[Credential]  # the scope's: what a pin may name
    default: Credential | None
    workspace_pool: Pool | None
    cells: list[EnvironmentCell]

    @property
    def key(self) -> str:
        """A name for the row that is stable while the rows stay the same (element ids)."""
        if self.ref is None:
            return self.provider.key
        return f"{self.provider.key}-{self.ref.type}-{int(self.ref.custom)}-{self.ref.name}"


def _model_cell(
    environment: Environment,
    *,
    ref: ModelRef,
    pins: dict,
    pools: dict,
    default: Credential | None,
    by_pk: dict[int, Credential],
    allowed: bool,
) -> EnvironmentCell:
    """The route invocation/failover.py `_build_route` takes, told in the page's words."""
    cell = partial(EnvironmentCell, pool_query=replace(ref, environment=environment.pk).query)
    pin = pins.get((environment.pk, ref.provider, ref.name, ref.type, ref.custom))
    provider_pin = None if ref.custom else pins.get((environment.pk, ref.provider, "", "", False))
    own = pools.get((environment.pk, ref.provider, ref.name, ref.type, ref.custom))
    workspace_pool = pools.get((None, ref.provider, ref.name, ref.type, ref.custom))
    if own is not None and own.enabled and allowed:
        return cell(environment, "pool", pin=pin, pool=own)
    if pin is not None:
        return cell(environment, "pinned", by_pk.get(pin.credential_id), pin, own)
    if provider_pin is not None:
        credential = by_pk.get(provider_pin.credential_id)
        return cell(environment, "provider-pin", credential, None, own)
    if workspace_pool is not None and workspace_pool.enabled and allowed:
        return cell(environment, "workspace-pool", pool=own)
    return cell(environment, "default", default, None, own)


def environment_matrix(
    *, workspace: Workspace, environments: list[Environment]
) -> list[EnvironmentRow]:
    """One row per provider with a credential in the workspace (what its predefined models
    use in each environment), each followed by its models that some environment pins or
    that have a pool (the workspace's or an environment's). Four queries."""
    credentials = list(
        Credential.objects.filter(workspace=workspace)
        .only("pk", "name", "provider", "model_name", "model_type", "is_default", "status")
        .order_by("created_at", "pk")
    )
    by_pk = {c.pk: c for c in credentials}
    by_scope: dict[tuple[str, str, str], list[Credential]] = {}
    for credential in credentials:
        scope = (credential.provider, credential.model_name, credential.model_type)
        by_scope.setdefault(scope, []).append(credential)
    pins = {
        (p.environment_id, p.provider, p.model_name, p.model_type, p.custom): p
        for p in Pin.objects.filter(workspace=workspace)
    }
    pools = {
        (p.environment_id, p.provider, p.model_name, p.model_type, p.custom): p
        for p in Pool.objects.filter(workspace=workspace)
    }
    allowed = workspace.load_balancing_allowed
    models: dict[str, set[tuple[str, str, bool]]] = {}
    for _env, provider, name, model_type, custom in [*pins, *pools]:
        if name:
            models.setdefault(provider, set()).add((name, model_type, custom))
    keys = {c.provider for c in credentials} | set(models)
    providers = sorted(
        (spec for key in keys if (spec := get_provider(key)) is not None),
        key=lambda spec: spec.label.lower(),
    )
    rows = []
    for provider in providers:
        scope = by_scope.get((provider.key, "", ""), [])
        default = next((c for c in scope if c.is_default), None)
        cells = []
        for environment in environments:
            pin = pins.get((environment.pk, provider.key, "", "", False))
            if pin is not None:
                cells.append(
                    EnvironmentCell(environment, "pinned", by_pk.get(pin.credential_id), pin)
                )
            else:
                cells.append(EnvironmentCell(environment, "default", default))
        rows.append(EnvironmentRow(provider, None, scope, default, None, cells))
        for name, model_type, custom in sorted(
            models.get(provider.key, ()), key=lambda m: (m[0].lower(), m[1], m[2])
        ):
            ref = ModelRef(provider.key, name, model_type, custom)
            model_scope = by_scope.get((provider.key, name, model_type), []) if custom else scope
            model_default = next((c for c in model_scope if c.is_default), None)
            rows.append(
                EnvironmentRow(
                    provider,
                    ref,
                    model_scope,
                    model_default,
                    pools.get((None, provider.key, name, model_type, custom)),
                    [
                        _model_cell(
                            environment,
                            ref=ref,
                            pins=pins,
                            pools=pools,
                            default=model_default,
                            by_pk=by_pk,
                            allowed=allowed,
                        )
                        for environment in environments
                    ],
                )
            )
    return rows


@dataclass(frozen=True)
class PinnableModel:
    ref: ModelRef
    label: str


def pinnable_models(*, workspace: Workspace) -> list[PinnableModel]:
    """The models a "Pin a model" form offers: the predefined models of providers with a
    provider credential, and the workspace's custom models."""
    from_providers = set(
        Credential.objects.filter(workspace=workspace, model_name="").values_list(
            "provider", flat=True
        )
    )
    models = []
    for key in sorted(from_providers):
        provider = get_provider(key)
        if provider is None:
            continue
        for model in provider.models:
            models.append(
                PinnableModel(
                    ModelRef(key, model.name, model.type), f"{provider.label} · {model.label}"
                )
            )
    for custom in CustomModel.objects.filter(workspace=workspace).order_by("provider", "name"):
        provider = get_provider(custom.provider)
        if provider is None:
            continue
        models.append(
            PinnableModel(
                ModelRef(custom.provider, custom.name, custom.type, True),
                f"{provider.label} · {custom.name} (custom)",
            )
        )
    return models
