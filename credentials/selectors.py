"""Reads of credentials and pending validations, always scoped to a workspace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.http import Http404
from django.shortcuts import get_object_or_404

from workspaces.models import Workspace

from .models import (
    Credential,
    CredentialStatus,
    CustomModel,
    PendingValidation,
    ValidationStatus,
)


@dataclass(frozen=True)
class ProviderCredentialSummary:
    count: int = 0
    default_name: str = ""
    failing: int = 0

    @property
    def configured(self) -> bool:
        return self.count > 0


def credential_list(
    *, workspace: Workspace, provider: str, model_name: str = "", model_type: str = ""
) -> list[Credential]:
    return list(
        Credential.objects.filter(
            workspace=workspace, provider=provider, model_name=model_name, model_type=model_type
        )
        .defer("secret_data")  # pages never decrypt: a wrong key cannot break them
        .order_by("created_at", "pk")
    )


def credential_get_or_404(*, workspace: Workspace, provider: str, pk) -> Credential:
    """Another workspace's (or provider's) credential id answers 404, and so does anything that
    is not an id at all (a form field's "", "abc" or "1.5")."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such credential.") from None
    return get_object_or_404(
        Credential.objects.defer("secret_data"), workspace=workspace, provider=provider, pk=pk
    )


def pending_get_or_404(*, workspace: Workspace, pk) -> PendingValidation:
    return get_object_or_404(PendingValidation, workspace=workspace, pk=pk)


def failed_attempt(*, workspace: Workspace, user, provider: str, pk) -> PendingValidation | None:
    """The user's own failed attempt a form is resubmitted from (None if gone or not theirs)."""
    try:
        pk = uuid.UUID(str(pk))
    except ValueError:
        return None
    return PendingValidation.objects.filter(
        workspace=workspace,
        created_by=user,
        provider=provider,
        pk=pk,
        status=ValidationStatus.FAILED,
    ).first()


def custom_model_exists(*, workspace: Workspace, provider: str, name: str, model_type: str) -> bool:
    """Whether a custom model is added (not removed, keeping only its credentials)."""
    return CustomModel.objects.filter(
        workspace=workspace, provider=provider, name=name, type=model_type
    ).exists()


def credential_choices(*, workspace: Workspace, provider: str) -> list[Credential]:
    """Every credential of a provider (any scope), for a picker: names only, never secrets."""
    return list(
        Credential.objects.filter(workspace=workspace, provider=provider)
        .only("pk", "name", "model_name", "is_default")
        .order_by("model_name", "-is_default", "name")
    )


def credential_of(pending: PendingValidation) -> Credential | None:
    """The credential a validation concerns, without decrypting it (None once deleted)."""
    if pending.credential_id is None:
        return None
    return Credential.objects.defer("secret_data").filter(pk=pending.credential_id).first()


def checks_in_progress(*, credentials: list[Credential]) -> dict[int, PendingValidation]:
    """The running "check now" of each credential, so a reloaded page keeps showing it."""
    pendings = PendingValidation.objects.filter(
        credential__in=[c.pk for c in credentials],
        status__in=[ValidationStatus.QUEUED, ValidationStatus.RUNNING],
    ).order_by("created_at")
    return {p.credential_id: p for p in pendings}


def provider_credential_summaries(*, workspace: Workspace) -> dict[str, ProviderCredentialSummary]:
    """Per provider: credentials of the provider scope, the default's name, failing ones."""
    by_provider: dict[str, list[Credential]] = {}
    credentials = Credential.objects.filter(workspace=workspace, model_name="").only(
        "provider", "name", "is_default", "status"
    )
    for credential in credentials:
        by_provider.setdefault(credential.provider, []).append(credential)
    return {provider: summarize(scope) for provider, scope in by_provider.items()}


def summarize(credentials: list[Credential]) -> ProviderCredentialSummary:
    default = next((c for c in credentials if c.is_default), None)
    return ProviderCredentialSummary(
        count=len(credentials),
        default_name=default.name if default else "",
        failing=sum(1 for c in credentials if c.status == CredentialStatus.FAILING),
    )
