"""Metering of system-provider calls against plan quotas.

Every system-provider call first **reserves** its cost with one conditional UPDATE
(`used = used + cost WHERE used < limit`): the database serialises concurrent reservations on
the row, so when one unit is left exactly one call gets it, whatever the number of processes.
Calls cost 1, credits cost the model's credits (the last call may pass the limit by less than
its own cost), tokens reserve 1 and are settled with the real count once the answer reports
usage (a call whose usage is unknown keeps what it reserved). A call that fails is refunded.
What a workspace may still use (the read side, shown on the pages) is `system/quotas.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F

from system.models import UNLIMITED, ModelCredit, PlanQuota, QuotaUnit, QuotaUsage
from system.quotas import period_start, plan_of, seconds_until_reset
from upstream.calls import Usage
from upstream.errors import QuotaExceeded
from upstream.registry import get_provider
from workspaces.models import Workspace


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
    plan_id, plan_name = plan_of(workspace)
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
