"""What the operator's system providers offer, and which credentials (system or the
workspace's own) serve a workspace's calls to a provider (DESIGN.md section 4).

`system_offer()` is read on every call, so it is cached per process for
`LOAD_BALANCING_CONFIG_CACHE_SECONDS`, like routes, and dropped in every process when the
system services declare a change of the offers (workspaces/config_cache.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from upstream.registry import get_provider
from workspaces.config_cache import ConfigCache, ConfigKind
from workspaces.models import Workspace

from .models import Preferred, ProviderPreference, SystemCredential, SystemProvider
from .quotas import QuotaState


@dataclass(frozen=True)
class SystemOffer:
    provider: str
    names: frozenset[str] | None  # offered model names; None: every known model
    discovered: tuple[tuple[str, str], ...]  # (name, type) found by refresh, not in the catalog
    credentials: tuple[SystemCredential, ...]  # enabled and working, in rotation order

    def offers(self, name: str) -> bool:
        return self.names is None or name in self.names

    def extra_models(self) -> list[tuple[str, str]]:
        """Models found by the refresh that the catalog lacks, as far as they are offered."""
        return [(n, t) for n, t in self.discovered if self.offers(n)]


_offers: ConfigCache[SystemOffer | None] = ConfigCache(
    "system offers",
    depends_on=(ConfigKind.SYSTEM_OFFERS,),
    seconds_setting="LOAD_BALANCING_CONFIG_CACHE_SECONDS",
    size_setting="CONFIG_CACHE_SIZE",
)


def system_offer(provider: str) -> SystemOffer | None:
    """The enabled system provider's offer with its working credentials, or None."""
    return _offers.get_or_load(provider, lambda: _read_offer(provider), workspace_id=None)


def _read_offer(provider: str) -> SystemOffer | None:
    system = SystemProvider.objects.filter(provider=provider, enabled=True).first()
    if system is None:
        return None
    credentials = tuple(
        system.credentials.filter(enabled=True, status="active").select_related("system_provider")
    )
    if not credentials:
        return None
    spec = get_provider(provider)
    known = {(m.name, m.type) for m in spec.models} if spec else set()
    discovered = tuple(
        (item["name"], item["type"])
        for item in system.discovered_models
        if isinstance(item, dict) and (item.get("name"), item.get("type")) not in known
    )
    names = frozenset(system.offered_models) if system.offered_models else None
    return SystemOffer(provider, names, discovered, credentials)


def preferences(workspace: Workspace) -> dict[str, str]:
    return dict(
        ProviderPreference.objects.filter(workspace=workspace).values_list("provider", "preferred")
    )


@dataclass(frozen=True)
class Choice:
    """Which credentials serve a provider's predefined models for a workspace, and why."""

    source: str  # "system" or "custom"
    preferred: str  # what the workspace prefers (explicitly or by default)
    explicit: bool  # the preference was chosen, not defaulted
    fallback: bool  # the preferred source cannot serve, so the other one does


def choose_source(
    *,
    has_custom: bool,
    offered: bool,
    quota: QuotaState | None,
    preference: str | None,
) -> Choice:
    """DESIGN.md section 4: the default preference is custom once the workspace has its own
    credential, else system. Preferred system with no quota left falls back to custom;
    preferred custom with nothing configured falls back to system. When neither can serve,
    the preferred one stays (and shows why: no credential, or quota exceeded)."""
    preferred = preference or (Preferred.CUSTOM if has_custom else Preferred.SYSTEM)
    system_usable = offered and quota is not None and not quota.exceeded
    if preferred == Preferred.SYSTEM and system_usable:
        source = Preferred.SYSTEM
    elif has_custom:
        source = Preferred.CUSTOM
    elif offered:
        source = Preferred.SYSTEM  # even used up: the model then says "quota exceeded"
    else:
        source = Preferred.CUSTOM  # nothing at all: the model says "no credential"
    return Choice(source, preferred, bool(preference), source != preferred)


@dataclass(frozen=True)
class SystemState:
    """A provider's system side for one workspace: the offer, the quota and the choice."""

    offer: SystemOffer
    quota: QuotaState
    choice: Choice

    @property
    def in_use(self) -> bool:
        return self.choice.source == Preferred.SYSTEM


def system_state(
    workspace: Workspace,
    provider: str,
    *,
    has_custom: bool,
    preference: str | None = None,
    quota: QuotaState | None = None,
) -> SystemState | None:
    """None when the operator offers nothing for the provider (then only custom exists)."""
    from .quotas import quota_state

    offer = system_offer(provider)
    if offer is None:
        return None
    if preference is None:
        preference = (
            ProviderPreference.objects.filter(workspace=workspace, provider=provider)
            .values_list("preferred", flat=True)
            .first()
        )
    quota = quota or quota_state(workspace, provider)
    choice = choose_source(has_custom=has_custom, offered=True, quota=quota, preference=preference)
    return SystemState(offer, quota, choice)
