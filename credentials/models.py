"""Credentials of a workspace for a provider or one custom model, and pending validations.

A credential is a `StoredSecret`, the base of every stored key (the operator's system
credentials too): its secret fields are one encrypted JSON text (`secret_data`), its other
fields plain JSON (`config`), and `masks` holds what pages may show of each secret.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from upstream.errors import ProviderError
from workspaces.jobs import Job, JobStatus
from workspaces.models import Workspace

from .crypto import StrictEncryptedTextField


class CredentialStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FAILING = "failing", "Failing"


def mask_secret(value: str) -> str:
    """What a page may show of a secret: at most the first 3 and last 4 characters."""
    value = str(value)
    if len(value) >= 16:
        return f"{value[:3]}…{value[-4:]}"
    if len(value) >= 10:
        return f"{value[:2]}…{value[-2:]}"
    return "…" * 3


class StoredSecret(models.Model):
    """A named, validated key to a provider, kept at rest: a workspace's `Credential` and the
    operator's `system.SystemCredential` are both one. The secret fields are one encrypted
    JSON text (`secret_data`), the other fields plain JSON (`config`), and `masks` what pages
    may show of each secret. `status` and the `last_*` fields say how the last check (a
    validation, a scheduled re-validation or a failed call) went."""

    name = models.CharField(max_length=100)
    secret_data = StrictEncryptedTextField()
    config = models.JSONField(default=dict, blank=True)
    masks = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=CredentialStatus.choices, default=CredentialStatus.ACTIVE
    )
    last_error_code = models.CharField(max_length=40, blank=True, default="")
    last_error_message = models.CharField(max_length=400, blank=True, default="")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    @property
    def secrets(self) -> dict[str, Any]:
        """The decrypted secret fields; only adapters and validation read this."""
        return json.loads(self.secret_data) if self.secret_data else {}

    def values(self) -> dict[str, Any]:
        """Every field's value (secret and plain), as a provider call needs them."""
        return {**self.config, **self.secrets}

    def set_values(self, *, config: dict[str, Any], secrets: dict[str, Any], checked_at) -> None:
        """Hold values the provider has just accepted (not saved): the secrets encrypted and
        masked, the key active as of `checked_at`."""
        self.config = config
        self.secret_data = json.dumps(secrets)
        self.masks = {name: mask_secret(value) for name, value in secrets.items()}
        for field, value in self.check_result(None, checked_at).items():
            setattr(self, field, value)

    @staticmethod
    def check_result(error: ProviderError | None, checked_at) -> dict[str, Any]:
        """The fields a check's verdict sets: active with no error, or failing with the
        provider's error (message cut to the column's 400 characters)."""
        if error is None:
            return {
                "status": CredentialStatus.ACTIVE,
                "last_error_code": "",
                "last_error_message": "",
                "last_checked_at": checked_at,
            }
        return {
            "status": CredentialStatus.FAILING,
            "last_error_code": error.code,
            "last_error_message": error.message[:400],
            "last_checked_at": checked_at,
        }


class Credential(StoredSecret):
    """A workspace's key for a provider, or for one of its custom models."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="credentials")
    provider = models.CharField(max_length=50)
    # Blank for a provider credential (all predefined models); set for one custom model. A
    # name + type, not a foreign key: removing a custom model keeps its credentials.
    model_name = models.CharField(max_length=200, blank=True, default="")
    model_type = models.CharField(max_length=30, blank=True, default="")
    is_default = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "model_name", "model_type", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider", "model_name", "model_type", "name"],
                name="credential_unique_name_in_scope",
            ),
            # At most one default per scope (provider, or one custom model), in the database.
            models.UniqueConstraint(
                fields=["workspace", "provider", "model_name", "model_type"],
                condition=Q(is_default=True),
                name="credential_one_default_per_scope",
            ),
            models.CheckConstraint(
                condition=Q(model_name="", model_type="") | (~Q(model_name="") & ~Q(model_type="")),
                name="credential_scope_complete",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "provider"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider}{'/' + self.model_name if self.model_name else ''})"


class CustomModel(models.Model):
    """A workspace's own model (name + type) of a provider: the scope its credentials and its
    load-balancing pool belong to. It exists while it has a credential, or until removed; its
    pages (Add Model, remove, re-add, switches) are the providers app's."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=50)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=30)
    # What the model can do, in the catalog's words (upstream.schema.MODEL_FEATURES): the
    # gateway refuses a chat using a feature the model lacks, as for a predefined model.
    features = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "providers_custommodel"  # where it was created; rows stay put
        ordering = ["provider", "name", "type"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider", "name", "type"], name="custom_model_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.name} ({self.type})"


def default_custom_model_features(model_type: str) -> tuple[str, ...]:
    """What a custom model can do until someone says otherwise: for a chat model, every
    feature the gateway checks a chat against, so nothing that reached the provider before
    custom models had features is refused now; the provider still answers for what the model
    really lacks (a 400 of its own, never a silent drop). Other types have no chat to check."""
    return CHECKED_CHAT_FEATURES if model_type == "llm" else ()


# The features `ProviderAdapter.features_needed` can ask of a chat (audio and document are
# never asked: no request field needs them yet).
CHECKED_CHAT_FEATURES = (
    "vision",
    "tool-call",
    "json-mode",
    "structured-output",
    "streaming",
    "reasoning",
)


class ValidationKind(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    CHECK = "check", "Check"


# A validation is a background job; its statuses are every job's.
ValidationStatus = JobStatus


class PendingValidation(Job):
    """A credential write (or a re-check) waiting for the provider to confirm it.

    The typed secrets are encrypted like stored ones and wiped once the validation finishes
    (after a failure they are kept until `expires_at`, so the form can be resubmitted without
    retyping them); rows are deleted by the sweep.
    """

    provider = models.CharField(max_length=50)
    model_name = models.CharField(max_length=200, blank=True, default="")
    model_type = models.CharField(max_length=30, blank=True, default="")
    kind = models.CharField(max_length=10, choices=ValidationKind.choices)
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=100, blank=True, default="")
    config = models.JSONField(default=dict, blank=True)
    secret_payload = StrictEncryptedTextField(null=True, blank=True)
    # Load balancing → Add credential → new: once saved, the credential joins this model's
    # pool ({"model": name, "type": type, "custom": bool}).
    add_to_pool = models.JSONField(null=True, blank=True)
    # Add Model → a new custom model gets these features once its credential is saved (None:
    # the type's defaults; an existing model keeps its own).
    model_features = models.JSONField(null=True, blank=True)
    # Accepted with a reservation the page shows (an OpenAI-compatible server that does not
    # list the model): saved all the same.
    warning = models.CharField(max_length=400, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    task_name = "credentials.validate_credential"
    doing = "checking the key with the provider"
    secret_fields = ("secret_payload",)
    # After a failure the typed secrets stay until `expires_at` (the retry window), so the form
    # can be resubmitted without retyping them; the sweep wipes them then.
    secrets_outlive_failure = True

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.provider} ({self.status})"

    def deadline(self):
        return self.expires_at
