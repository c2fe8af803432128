"""Load-balancing pools: per model, an ordered list of credential entries.

A pool belongs to one model of a workspace: a predefined model (its entries are provider
credentials) or a custom model (its entries are that model's credentials), told apart by
`custom` because a custom model may share a predefined model's name. An entry without a
credential is the **Default Config**: whatever the scope's default credential is at call time.

`enabled` is the switch; turning it off keeps the entries for later. `warning` says why
balancing stopped on its own (a deleted credential left fewer than two enabled entries) until
someone turns it on again.

A pool without an environment is the workspace's: every environment that pins nothing for the
model uses it. A pool with an environment is that environment's own pool for the model.
`Pin` is an environment's choice of one credential for a provider (its predefined models) or
for one model, in place of the workspace's default. How a call picks among them is in
invocation/failover.py (`_build_route`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from credentials.models import Credential
from workspaces.models import Environment, Workspace

MAX_ENTRIES = 50


class Pool(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=50)
    model_name = models.CharField(max_length=200)
    model_type = models.CharField(max_length=30)
    custom = models.BooleanField(default=False)
    # None: the workspace's pool; set: that environment's own pool for the model.
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.CASCADE, related_name="pools"
    )
    enabled = models.BooleanField(default=False)
    warning = models.CharField(max_length=300, blank=True, default="")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider", "model_name", "model_type", "custom"],
                condition=Q(environment__isnull=True),
                name="pool_unique_model",
            ),
            models.UniqueConstraint(
                fields=["environment", "provider", "model_name", "model_type", "custom"],
                condition=Q(environment__isnull=False),
                name="pool_unique_model_in_environment",
            ),
        ]

    def __str__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"{self.provider}/{self.model_name} ({self.model_type}) load balancing {state}"

    @property
    def key(self) -> str:
        """The routing engine's name for this pool (round-robin index, cooldowns, stats)."""
        kind = "c" if self.custom else "p"
        key = f"ws:{self.workspace_id}:{self.provider}:{kind}:{self.model_type}:{self.model_name}"
        # An environment's own pool keeps its own round-robin index, cooldowns and counts.
        return f"{key}:env:{self.environment_id}" if self.environment_id else key


class PoolEntry(models.Model):
    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="entries")
    # Null is the Default Config entry. Deleting a credential deletes its entries.
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.CASCADE, related_name="pool_entries"
    )
    position = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.credential.name if self.credential_id else "Default Config"

    @property
    def is_default_config(self) -> bool:
        return self.credential_id is None


class Pin(models.Model):
    """An environment's credential for a provider (`model_name` blank: its predefined models)
    or for one model (predefined, or custom when `custom`), in place of the default.

    A provider pin names a provider credential; a model pin names a credential of the
    model's scope (the provider's, or the custom model's own). Deleting the credential deletes
    the pin (balancing.services.pins_after_credential_delete audits it first).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="pins")
    provider = models.CharField(max_length=50)
    model_name = models.CharField(max_length=200, blank=True, default="")
    model_type = models.CharField(max_length=30, blank=True, default="")
    custom = models.BooleanField(default=False)
    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="pins")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["environment", "provider", "model_name", "model_type", "custom"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "provider", "model_name", "model_type", "custom"],
                name="pin_unique_scope",
            ),
            models.CheckConstraint(
                condition=Q(model_name="", model_type="", custom=False)
                | (~Q(model_name="") & ~Q(model_type="")),
                name="pin_scope_complete",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "provider"])]

    def __str__(self) -> str:
        what = f"{self.provider}/{self.model_name}" if self.model_name else self.provider
        return f"{what} → {self.credential}"

    @property
    def is_provider_pin(self) -> bool:
        return not self.model_name
