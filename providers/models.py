"""A workspace's model settings: switches (`ModelSetting`, a model switched off), default models
and model-list refreshes. Custom models themselves are the scope credentials belong to, so they
are declared in `credentials/models.py`; this app keeps their pages and settings.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models

from upstream.schema import MODEL_TYPES
from workspaces.jobs import Job, JobStatus
from workspaces.models import Workspace


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


# A refresh is a background job; its statuses are every job's.
RefreshStatus = JobStatus


class ModelRefresh(Job):
    """ "Refresh models": which models a credential can reach, as the provider lists them."""

    provider = models.CharField(max_length=50)
    credential = models.ForeignKey(
        "credentials.Credential", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    credential_name = models.CharField(max_length=100, blank=True, default="")
    discovered = models.JSONField(default=list, blank=True)  # [{"name": ..., "type": ...}]

    task_name = "providers.refresh_models"
    doing = "asking the provider for the model list"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"refresh {self.provider} ({self.status})"

    def deadline(self):
        # No column of its own (the table predates the job base): as long as a validation.
        return self.created_at + timedelta(seconds=settings.CREDENTIAL_VALIDATION_TIMEOUT)


class DefaultModel(models.Model):
    """The model a workspace uses for one model type when a page or call names none
    (Settings → Default models). `custom` keeps a custom model apart from a predefined one of
    the same name."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    model_type = models.CharField(max_length=30)
    provider = models.CharField(max_length=50)
    model_name = models.CharField(max_length=200)
    custom = models.BooleanField(default=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "model_type"], name="default_model_unique_type"
            ),
            models.CheckConstraint(
                condition=models.Q(model_type__in=list(MODEL_TYPES)),
                name="default_model_known_type",
            ),
        ]

    def __str__(self) -> str:
        kind = " (custom)" if self.custom else ""
        return f"{self.model_type}: {self.provider}/{self.model_name}{kind}"
