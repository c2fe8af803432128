"""Workspace API keys, and one usage record per model call.

A key is shown once when created and stored only as its SHA-256 (keys are 256 random bits, so
a fast hash is safe and lets every request find its key by index); `prefix` is what lists show.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from workspaces.models import Workspace


class ApiKey(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # `manage.py create_api_key` (no person): such a key needs no membership. Every other key
    # works only while `created_by` is a member of the workspace; once the creator is deleted
    # (`created_by` NULL) it is refused (gateway/services.py, api_key_authenticate).
    created_by_operator = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class UsageRecord(models.Model):
    """One model call: who made it, which model and credential served it, tokens, latency and
    the outcome ("success" or the error code)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.CharField(max_length=50)
    model = models.CharField(max_length=200)
    model_type = models.CharField(max_length=30)
    credential = models.ForeignKey(
        "credentials.Credential",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    credential_name = models.CharField(max_length=100, blank=True, default="")
    endpoint = models.CharField(max_length=30)  # chat, embeddings, moderations, ...
    stream = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=40, default="success")
    # "system": served by the operator's credentials and charged to the plan's quota.
    source = models.CharField(max_length=10, default="custom")
    # The time of the call (records are written in batches a moment later: gateway/usage.py).
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "created_at"])]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} {self.endpoint} {self.outcome}"
