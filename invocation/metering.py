"""Metering of system-provider calls against plan quotas.

Every system-provider call first **reserves** its cost with one conditional UPDATE
(`used = used + cost WHERE used < limit`): the database serialises concurrent reservations on
the row, so when one unit is left exactly one call gets it, whatever the number of processes.
Calls cost 1, credits cost the model's credits (the last call may pass the limit by less than
its own cost), tokens reserve 1 and are settled with the real count once the answer reports
usage (a call whose usage is unknown keeps what it reserved). A call that fails is refunded.
What a workspace may still use (the read side, shown on the pages) is `system/quotas.py`.

**Media calls** (images, speech, transcription, rerank) are measured in their own units and
charged in **billing units** (`BILLING_UNITS`), the rule the gateway docs repeat:

| kind | measured (usage record) | one billing unit |
|---|---|---|
| image | images made | 1 image |
| speech | characters spoken | 1,000 characters, started |
| transcription | seconds of audio | 1 minute of audio, started |
| rerank | searches (the provider's search units; else one per 100 documents, started) | 1 search |

- a **calls** quota charges 1 per call, whatever its kind or size;
- a **credits** quota charges the model's credits (`ModelCredit`, 1 when not listed) per billing
  unit: a DALL·E 3 listed at 4 credits costs 8 for two images, tts-1 listed at 2 costs 6 for
  2,500 characters. What is known before the call (images asked for, characters, documents) is
  reserved; a transcription reserves one minute and is settled with the audio's real length;
- a **tokens** quota charges the tokens the provider reports (gpt-image, gpt-4o-transcribe);
  a media call that reports none is charged its billing units, so nothing is free.
"""

from __future__ import annotations

import math
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


#: A media call's unit (what its usage record counts) → how many of them make a billing unit.
BILLING_UNITS: dict[str, int] = {"images": 1, "characters": 1000, "seconds": 60, "searches": 1}


def billing_units(unit: str, amount: float) -> int:
    """`amount` of `unit` in billing units, a started one counted whole (at least 1)."""
    per = BILLING_UNITS[unit]
    return max(1, math.ceil(amount / per))


@dataclass
class Reservation:
    """A call's charge on its quota, settled after the call (tokens, or a media call's billing
    units) or refunded on failure."""

    row_filter: dict
    unit: str
    charged: int
    credits: int = 1  # the model's credits per call, or per billing unit of a media call
    done: bool = False

    def settle(self, usage: Usage | None, *, billed: int | None = None) -> None:
        """Charge the call's tokens; usage None (unknown: not reported, or unreadable) keeps
        the reservation, never 0, so a provider's malformed answer cannot make calls free.
        `billed`: a media call's billing units, once known (the module docstring's rule)."""
        if self.done:
            return
        self.done = True
        cost = None
        if self.unit == QuotaUnit.TOKENS:
            if usage is not None and usage.total_tokens:
                cost = usage.total_tokens
            elif billed is not None:
                cost = billed
            elif usage is not None:
                cost = usage.total_tokens
        elif self.unit == QuotaUnit.CREDITS and billed is not None:
            cost = self.credits * billed
        if cost is not None and cost != self.charged:
            QuotaUsage.objects.filter(**self.row_filter).update(
                used=F("used") + (cost - self.charged)
            )

    def refund(self) -> None:
        if self.done:
            return
        self.done = True
        QuotaUsage.objects.filter(**self.row_filter).update(used=F("used") - self.charged)


def quota_reserve(
    workspace: Workspace, provider: str, model: str, *, billed: int = 1
) -> Reservation:
    """Charge one call to `model` on the workspace's quota for the system `provider`, or raise
    QuotaExceeded ("<provider> quota exceeded for this workspace's plan"). `billed`: a media
    call's billing units as far as known before it (credits quotas reserve that many)."""
    plan_id, plan_name = plan_of(workspace)
    quota = PlanQuota.objects.filter(plan_id=plan_id, provider=provider).first()
    if quota is None:
        spec = get_provider(provider)
        raise QuotaExceeded(
            f"{spec.label if spec else provider} is not included in the {plan_name} plan"
        )
    cost = credits = 1
    if quota.unit == QuotaUnit.CREDITS:
        credits = (
            ModelCredit.objects.filter(provider=provider, model_name=model)
            .values_list("credits", flat=True)
            .first()
        ) or 1
        cost = credits * max(1, billed)
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
    return Reservation(row_filter=row_filter, unit=quota.unit, charged=cost, credits=credits)
