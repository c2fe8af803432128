"""Plan quotas of system providers: what a workspace may still use in the current period.

Charging calls against these quotas (reserve, settle, refund) is metering, in
`invocation/metering.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from workspaces.models import Plan, Workspace

from .models import UNLIMITED, PlanQuota, QuotaPeriod, QuotaUnit, QuotaUsage

EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class QuotaState:
    """A workspace's quota for one system provider; `limit` None: not in the plan."""

    provider: str
    plan_name: str
    unit: str = QuotaUnit.CALLS
    limit: int | None = None
    period: str = QuotaPeriod.MONTHLY
    used: int = 0

    @property
    def included(self) -> bool:
        return self.limit is not None

    @property
    def unlimited(self) -> bool:
        return self.limit == UNLIMITED

    @property
    def exceeded(self) -> bool:
        return not self.included or (not self.unlimited and self.used >= self.limit)

    @property
    def percent(self) -> int:
        if not self.included or self.unlimited or self.limit == 0:
            return 100 if self.exceeded else 0
        return min(100, round(self.used * 100 / self.limit))

    @property
    def summary(self) -> str:
        """ "1,204 / 5,000 calls this month", "312 tokens (unlimited)", "not in the Free plan"."""
        if not self.included:
            return f"not in the {self.plan_name} plan"
        when = " this month" if self.period == QuotaPeriod.MONTHLY else " in total"
        if self.unlimited:
            return f"{self.used:,} {self.unit}{when} (unlimited)"
        return f"{self.used:,} / {self.limit:,} {self.unit}{when}"


def period_start(period: str, now: datetime | None = None) -> date:
    now = now or datetime.now(UTC)
    return now.date().replace(day=1) if period == QuotaPeriod.MONTHLY else EPOCH


def seconds_until_reset(period: str, now: datetime | None = None) -> float | None:
    if period != QuotaPeriod.MONTHLY:
        return None
    now = now or datetime.now(UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return (datetime(year, month, 1, tzinfo=UTC) - now).total_seconds()


def plan_of(workspace: Workspace) -> tuple[int | None, str]:
    if workspace.plan_id:
        return workspace.plan_id, workspace.plan_name
    free = Plan.objects.filter(slug=Plan.FREE).only("pk", "name").first()
    return (free.pk, free.name) if free else (None, "Free")


def quota_states(workspace: Workspace, providers: list[str] | None = None) -> dict[str, QuotaState]:
    """The workspace's quota for each provider (two queries, whatever their number)."""
    plan_id, plan_name = plan_of(workspace)
    quotas = PlanQuota.objects.filter(plan_id=plan_id) if plan_id else PlanQuota.objects.none()
    if providers is not None:
        quotas = quotas.filter(provider__in=providers)
    quotas = list(quotas)
    starts = {q.provider: period_start(q.period) for q in quotas}
    used = {
        (row.provider, row.period_start): row.used
        for row in QuotaUsage.objects.filter(
            workspace=workspace, provider__in=list(starts), period_start__in=set(starts.values())
        )
    }
    states = {}
    for quota in quotas:
        states[quota.provider] = QuotaState(
            provider=quota.provider,
            plan_name=plan_name,
            unit=quota.unit,
            limit=quota.limit,
            period=quota.period,
            used=used.get((quota.provider, starts[quota.provider]), 0),
        )
    for provider in providers or ():
        states.setdefault(provider, QuotaState(provider=provider, plan_name=plan_name))
    return states


def quota_state(workspace: Workspace, provider: str) -> QuotaState:
    return quota_states(workspace, [provider])[provider]
