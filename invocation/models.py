"""One usage record per model call. The table keeps the name it had when records lived in the
gateway app (`gateway_usagerecord`)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from workspaces.models import Workspace


class UsageRecord(models.Model):
    """One model call: who made it, which model and credential served it, tokens, latency and
    the outcome ("success" or the error code)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey(
        "api_keys.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
    # Whose pins served it: the API key's environment, or the one chosen in the playground.
    environment = models.ForeignKey(
        "workspaces.Environment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    environment_name = models.CharField(max_length=60, blank=True, default="")
    # chat, embeddings, moderations, images, speech, transcriptions, rerank
    endpoint = models.CharField(max_length=30)
    stream = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Of the completion tokens, those the model spent thinking (where the provider says so).
    reasoning_tokens = models.PositiveIntegerField(default=0)
    # A media call's measure (invocation/metering.py): images, characters (speech), seconds
    # (of audio transcribed) or searches (rerank); 0 and "" for chat and embeddings.
    units = models.PositiveIntegerField(default=0)
    unit = models.CharField(max_length=12, blank=True, default="")
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=40, default="success")
    # "system": served by the operator's credentials and charged to the plan's quota.
    source = models.CharField(max_length=10, default="custom")
    # The time of the call (records are written in batches a moment later: invocation/usage.py).
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "gateway_usagerecord"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "created_at"])]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} {self.endpoint} {self.outcome}"
