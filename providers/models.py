"""A workspace's custom models and its per-model switches.

A custom model is a name + type the workspace added for a provider; its credentials are
`Credential` rows with that name and type, so removing the model keeps them (for a quick
re-add). `ModelSetting` records a model (predefined or custom) switched off in a workspace.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workspaces.models import Workspace


class CustomModel(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=50)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=30)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider", "name", "type"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider", "name", "type"], name="custom_model_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.name} ({self.type})"


class ModelSetting(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=50)
    model_name = models.CharField(max_length=200)
    model_type = models.CharField(max_length=30)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider", "model_name", "model_type"],
                name="model_setting_unique",
            ),
        ]

    def __str__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"{self.provider}/{self.model_name} ({self.model_type}) {state}"
