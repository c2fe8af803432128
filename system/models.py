"""The site operator's side of model access (DESIGN.md section 4).

- A **system provider** is a provider whose credentials the operator owns and every workspace
  may use within its plan's quota. Its credentials are stored secrets like workspace ones
  (`credentials.models.StoredSecret`: encrypted, masked, checked) and validated before they
  are saved (in the Django admin).
- A **plan quota** caps a plan's use of one system provider: in calls, tokens or credits
  (credits per call come from the model credit table), per month or in total; -1 = unlimited.
  A plan without a quota for a provider does not include that system provider.
- **Quota usage** is the metered amount per workspace, provider and period, changed only by
  conditional UPDATEs (`system/quotas.py`), so concurrent calls cannot overrun it.
- A **provider preference** says whether a workspace prefers the system or its own (custom)
  credentials for a provider; without one, custom wins once the workspace has a credential.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from credentials.models import StoredSecret
from upstream.registry import get_provider
from workspaces.models import Plan, Workspace


class SystemProvider(models.Model):
    provider = models.CharField(
        max_length=50, unique=True, help_text="The catalog provider the operator offers."
    )
    enabled = models.BooleanField(
        default=True, help_text="Switched off, no workspace can use it (their own keys still work)."
    )
    offered_models = models.JSONField(
        default=list,
        blank=True,
        help_text="Model names workspaces may use; empty offers every known model "
        "(the catalog's, plus those found by the last model refresh).",
    )
    discovered_models = models.JSONField(
        default=list, blank=True, help_text="[{name, type}] found by the last model refresh."
    )
    models_refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_error = models.CharField(max_length=400, blank=True, default="")

    class Meta:
        ordering = ["provider"]

    def __str__(self) -> str:
        spec = get_provider(self.provider)
        return f"{spec.label if spec else self.provider} (system)"


class SystemCredential(StoredSecret):
    """One of the operator's keys for a system provider. Calls rotate over the enabled,
    working ones and fail over between them, like a workspace pool."""

    system_provider = models.ForeignKey(
        SystemProvider, on_delete=models.CASCADE, related_name="credentials"
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["system_provider", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["system_provider", "name"], name="system_credential_unique_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.system_provider.provider}, system)"

    @property
    def provider(self) -> str:
        return self.system_provider.provider


class QuotaUnit(models.TextChoices):
    CALLS = "calls", "Calls"
    TOKENS = "tokens", "Tokens"
    CREDITS = "credits", "Credits"


class QuotaPeriod(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    TOTAL = "total", "Total"


UNLIMITED = -1


class PlanQuota(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="quotas")
    provider = models.CharField(max_length=50)
    unit = models.CharField(max_length=10, choices=QuotaUnit.choices, default=QuotaUnit.CALLS)
    limit = models.BigIntegerField(help_text="-1 for unlimited.")
    period = models.CharField(
        max_length=10, choices=QuotaPeriod.choices, default=QuotaPeriod.MONTHLY
    )

    class Meta:
        ordering = ["plan", "provider"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "provider"], name="plan_quota_one_per_provider"
            ),
            models.CheckConstraint(condition=Q(limit__gte=-1), name="plan_quota_limit_valid"),
        ]

    def __str__(self) -> str:
        limit = "unlimited" if self.limit == UNLIMITED else f"{self.limit:,}"
        return f"{self.plan}: {self.provider} {limit} {self.unit} ({self.get_period_display()})"


class ModelCredit(models.Model):
    """Credits one call to a model costs on quotas counted in credits (1 when not listed); for
    a media model, credits per billing unit (an image, 1,000 characters, a minute of audio, a
    search: invocation/metering.py)."""

    provider = models.CharField(max_length=50)
    model_name = models.CharField(max_length=200)
    credits = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["provider", "model_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model_name"], name="model_credit_one_per_model"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model_name}: {self.credits} credits"


class QuotaUsage(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=50)
    period_start = models.DateField()  # the month's first day; 1970-01-01 for total quotas
    used = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider", "period_start"], name="quota_usage_one_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workspace}: {self.provider} {self.used} since {self.period_start}"


class Preferred(models.TextChoices):
    SYSTEM = "system", "System"
    CUSTOM = "custom", "Custom"


class ProviderPreference(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=50)
    preferred = models.CharField(max_length=10, choices=Preferred.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider"], name="provider_preference_one_per_provider"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workspace}: {self.provider} prefers {self.preferred}"
