"""Writes of the system side: a workspace's preferred source per provider, the operator's
system providers and credentials (the Django admin saves and deletes them here), and
refreshing a system provider's model list from the provider."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from upstream.calling import get_adapter
from upstream.errors import ProviderError
from upstream.registry import get_provider
from workspaces.actors import Actor
from workspaces.config_cache import ConfigKind, config_changed
from workspaces.exceptions import ApplicationError
from workspaces.models import Workspace
from workspaces.services import audit_record, require_manager

from .models import Preferred, ProviderPreference, SystemCredential, SystemProvider

logger = logging.getLogger(__name__)


def provider_preference_set(
    *, workspace: Workspace, provider: str, preferred: str, acting_user: Actor
) -> None:
    """Prefer the system's or the workspace's own credentials for `provider`; "" goes back
    to the default (custom once the workspace has a credential, else system)."""
    require_manager(workspace=workspace, user=acting_user)
    spec = get_provider(provider)
    if spec is None:
        raise ApplicationError("Unknown provider.")
    if preferred not in ("", *Preferred.values):
        raise ApplicationError("Choose system, custom or the default.", field="preferred")
    with transaction.atomic():
        if preferred:
            ProviderPreference.objects.update_or_create(
                workspace=workspace, provider=provider, defaults={"preferred": preferred}
            )
        else:
            ProviderPreference.objects.filter(workspace=workspace, provider=provider).delete()
        audit_record(
            workspace=workspace,
            actor=acting_user,
            action="provider.preference",
            object_type="provider",
            object_id=provider,
            object_repr=spec.label,
            details={"preferred": preferred or "default"},
        )
        # After the commit (inside `apply_providers`' transaction too), or a call in between
        # would cache the old preference again.
        config_changed(workspace.pk, ConfigKind.PREFERENCES)


@transaction.atomic
def system_credential_store(
    *,
    credential: SystemCredential,
    config: dict[str, Any],
    secrets: dict[str, Any],
    acting_user: Actor,
) -> SystemCredential:
    """Save values the provider has just accepted for one of the operator's keys (the Django
    admin validates first): secrets encrypted and masked, the key active, and the cached
    system routes forgotten. No workspace's audit log holds operator keys, so it is logged."""
    credential.set_values(config=config, secrets=secrets, checked_at=timezone.now())
    credential.save()
    config_changed(None, ConfigKind.SYSTEM_OFFERS)
    logger.info(
        "system credential %s (%s) saved by %s", credential.pk, credential.name, acting_user
    )
    return credential


@transaction.atomic
def system_credential_delete(*, credential: SystemCredential, acting_user: Actor) -> None:
    """Delete one of the operator's keys; calls stop using it at once."""
    logger.info(
        "system credential %s (%s) deleted by %s", credential.pk, credential.name, acting_user
    )
    credential.delete()
    config_changed(None, ConfigKind.SYSTEM_OFFERS)


@transaction.atomic
def system_provider_save(*, system: SystemProvider, acting_user: Actor) -> SystemProvider:
    """Offer a provider (or change what is offered); the cached system offers go stale."""
    system.save()
    config_changed(None, ConfigKind.SYSTEM_OFFERS)
    logger.info("system provider %s saved by %s", system.provider, acting_user)
    return system


@transaction.atomic
def system_provider_delete(*, system: SystemProvider, acting_user: Actor) -> None:
    """Stop offering a provider; its credentials go with it."""
    logger.info("system provider %s deleted by %s", system.provider, acting_user)
    system.delete()
    config_changed(None, ConfigKind.SYSTEM_OFFERS)


@dataclass(frozen=True)
class RefreshOutcome:
    ok: bool
    message: str


def system_models_refresh(system: SystemProvider) -> RefreshOutcome:
    """Ask the provider which models the operator's first working credential reaches, so new
    models reach workspaces without a release (the catalog's models stay the fallback)."""
    spec = get_provider(system.provider)
    credential = system.credentials.filter(enabled=True, status="active").first()
    if spec is None or credential is None:
        message = "no working credential to ask the provider with"
        SystemProvider.objects.filter(pk=system.pk).update(refresh_error=message)
        return RefreshOutcome(False, message)
    try:
        found = get_adapter(spec).list_models(credential.values())
    except ProviderError as error:
        SystemProvider.objects.filter(pk=system.pk).update(refresh_error=error.message[:400])
        logger.warning("system model refresh of %s failed: %s", system.provider, error.code)
        return RefreshOutcome(False, error.message)
    discovered = [{"name": m.name, "type": m.type} for m in found]
    SystemProvider.objects.filter(pk=system.pk).update(
        discovered_models=discovered, models_refreshed_at=timezone.now(), refresh_error=""
    )
    system.refresh_from_db()
    config_changed(None, ConfigKind.SYSTEM_OFFERS)
    return RefreshOutcome(True, f"{len(discovered)} models found")


def system_models_refresh_all() -> dict[str, RefreshOutcome]:
    return {
        system.provider: system_models_refresh(system)
        for system in SystemProvider.objects.filter(enabled=True)
    }
