"""Load-balancing pools: per model, an ordered list of credential entries.

A pool belongs to one model of a workspace: a predefined model (its entries are provider
credentials) or a custom model (its entries are that model's credentials), told apart by
`custom` because a custom model may share a predefined model's name. An entry without a
credential is the **Default Config**: whatever the scope's default credential is at call time.

`enabled` is the switch; turning it off keeps the entries for later. `warning` says why
balancing stopped on its own (a deleted credential left fewer than two enabled entries) until
someone turns it on again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from credentials.models import Credential
from workspaces.models import Workspace

MAX_ENTRIES = 50


class Pool(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=50)
    model_name = models.CharField(max_length=200)
    model_type = models.CharField(max_length=30)
    custom = models.BooleanField(default=False)
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
                name="pool_unique_model",
            ),
        ]

    def __str__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"{self.provider}/{self.model_name} ({self.model_type}) load balancing {state}"

    @property
    def key(self) -> str:
        """The routing engine's name for this pool (round-robin index, cooldowns, stats)."""
        kind = "c" if self.custom else "p"
        return f"ws:{self.workspace_id}:{self.provider}:{kind}:{self.model_type}:{self.model_name}"


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
