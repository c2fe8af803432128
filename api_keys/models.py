"""Workspace API keys.

A key is shown once when created and stored only as its SHA-256 (keys are 256 random bits, so
a fast hash is safe and lets every request find its key by index); `prefix` is what lists show.
The table keeps the name it had when keys lived in the gateway app (`gateway_apikey`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workspaces.models import Environment, Workspace


class ApiKey(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    # Which pins serve its calls. Null only for keys of a deleted environment (revoked then).
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.SET_NULL, related_name="api_keys"
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # `manage.py create_api_key` (no person): such a key needs no membership. Every other key
    # works only while `created_by` is a member of the workspace; once the creator is deleted
    # (`created_by` NULL) it is refused (api_keys/services.py, api_key_authenticate).
    created_by_operator = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "gateway_apikey"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def in_words(self) -> str:
        """How lists of what ends with a membership or an environment name it."""
        return f"API key “{self.name}” ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
