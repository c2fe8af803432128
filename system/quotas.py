"""Plan quotas of system providers: what a workspace may still use, and metering.

Every system-provider call first **reserves** its cost with one conditional UPDATE
(`used = used + cost WHERE used < limit`): the database serialises concurrent reservations on
the row, so when one unit is left exactly one call gets it, whatever the number of processes.
Calls cost 1, credits cost the model's credits (the last call may pass the limit by less than
its own cost), tokens reserve 1 and are settled with the real count once the answer reports
usage (a call whose usage is unknown keeps what it reserved). A call that fails is refunded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db.models import F

from upstream.calls import Usage
from upstream.errors import QuotaExceeded
from upstream.registry import get_provider
from workspaces.models import Plan, Workspace

from .models import UNLIMITED, ModelCredit, PlanQuota, QuotaPeriod, QuotaUnit, QuotaUsage

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


def _plan(workspace: Workspace) -> tuple[int | None, str]:
    if workspace.plan_id:
        return workspace.plan_id, workspace.plan_name
    free = Plan.objects.filter(slug=Plan.FREE).only("pk", "name").first()
    return (free.pk, free.name) if free else (None, "Free")


def quota_states(workspace: Workspace, providers: list[str] | None = None) -> dict[str, QuotaState]:
    """The workspace's quota for each provider (two queries, whatever their number)."""
    plan_id, plan_name = _plan(workspace)
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


def _exceeded(provider: str, plan_name: str, retry_after: float | None) -> QuotaExceeded:
    spec = get_provider(provider)
    label = spec.label if spec else provider
    return QuotaExceeded(
        f"{label} quota exceeded for this workspace's plan ({plan_name})",
        retry_after=retry_after,
    )


@dataclass
class Reservation:
    """A call's charge on its quota, settled after the call (tokens) or refunded on failure."""

    row_filter: dict
    unit: str
    charged: int
    done: bool = False

    def settle(self, usage: Usage | None) -> None:
        """Charge the call's tokens; usage None (unknown: not reported, or unreadable) keeps
        the reservation, never 0, so a provider's malformed answer cannot make calls free."""
        if self.done:
            return
        self.done = True
        if self.unit == QuotaUnit.TOKENS and usage is not None:
            tokens = usage.total_tokens
            if tokens != self.charged:
                QuotaUsage.objects.filter(**self.row_filter).update(
                    used=F("used") + (tokens - self.charged)
                )

    def refund(self) -> None:
        if self.done:
            return
        self.done = True
        QuotaUsage.objects.filter(**self.row_filter).update(used=F("used") - self.charged)


def quota_reserve(workspace: Workspace, provider: str, model: str) -> Reservation:
    """Charge one call to `model` on the workspace's quota for the system `provider`, or raise
    QuotaExceeded ("<provider> quota exceeded for this workspace's plan")."""
    plan_id, plan_name = _plan(workspace)
    quota = PlanQuota.objects.filter(plan_id=plan_id, provider=provider).first()
    if quota is None:
        spec = get_provider(provider)
        raise QuotaExceeded(
            f"{spec.label if spec else provider} is not included in the {plan_name} plan"
        )
    cost = 1
    if quota.unit == QuotaUnit.CREDITS:
        cost = (
            ModelCredit.objects.filter(provider=provider, model_name=model)
            .values_list("credits", flat=True)
            .first()
        ) or 1
    row_filter = {
        "workspace_id": workspace.pk,
        "provider": provider,
        "period_start": period_start(quota.period),
    }
    rows = QuotaUsage.objects.filter(**row_filter)
    if quota.limit != UNLIMITED:
        rows = rows.filter(used__lt=quota.limit)
    if rows.update(used=F("used") + cost) == 0:
        # No row yet for this period (create it, racing safely), or the quota is used up.
        QuotaUsage.objects.bulk_create([QuotaUsage(**row_filter)], ignore_conflicts=True)
        if rows.update(used=F("used") + cost) == 0:
            raise _exceeded(provider, plan_name, seconds_until_reset(quota.period))
    return Reservation(row_filter=row_filter, unit=quota.unit, charged=cost)
