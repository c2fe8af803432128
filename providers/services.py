"""Writes to custom models and model switches; each checks the role (a user's; the operator
has none) and writes the audit row. "Refresh models" is a background job (workspaces/jobs.py)."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from credentials.crypto import SecretDecryptionError, SecretUnreadable
from credentials.models import Credential, CustomModel, default_custom_model_features
from credentials.services import custom_model_set_features
from upstream.adapters.base import DiscoveredModel
from upstream.calling import get_adapter
from upstream.errors import ProviderError, UpstreamError
from upstream.registry import get_provider
from workspaces import jobs
from workspaces.actors import Actor, Operator, actor_user
from workspaces.config_cache import ConfigKind, config_changed
from workspaces.exceptions import ApplicationError
from workspaces.models import AuditEntry, User, Workspace
from workspaces.services import audit_record, require_manager

from .models import ModelRefresh, ModelSetting

logger = logging.getLogger(__name__)


def _check_model(provider_key: str, model_type: str):
    provider = get_provider(provider_key)
    if provider is None:
        raise ApplicationError("Unknown provider.")
    if not provider.supports_custom_models:
        raise ApplicationError(f"{provider.label} has no custom models.")
    if model_type not in provider.model_types:
        raise ApplicationError(
            f"{provider.label} does not offer {model_type} models.", field="model_type"
        )
    return provider


@transaction.atomic
def custom_model_remove(*, custom_model: CustomModel, acting_user: Actor) -> None:
    """Remove a custom model; its credentials stay, for a quick re-add from Add Model."""
    require_manager(workspace=custom_model.workspace, user=acting_user)
    config_changed(custom_model.workspace_id, ConfigKind.MODELS)
    audit_record(
        workspace=custom_model.workspace,
        actor=acting_user,
        action="model.remove",
        target=custom_model,
        details={"provider": custom_model.provider, "name": custom_model.name},
    )
    custom_model.delete()


def _removed_model_pk(*, workspace: Workspace, provider: str, name: str, type: str) -> int | None:
    """The id the model had before its last removal, when no row took it since: a re-added
    model keeps its URL (links and bookmarks to it keep working)."""
    removal = (
        AuditEntry.objects.filter(
            workspace=workspace,
            action="model.remove",
            object_repr=f"{provider}/{name} ({type})",
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if removal is None or not removal.object_id.isdigit():
        return None
    pk = int(removal.object_id)
    return None if CustomModel.objects.filter(pk=pk).exists() else pk


@transaction.atomic
def custom_model_readd(
    *, workspace: Workspace, credential: Credential, acting_user: Actor
) -> CustomModel:
    """Bring back a removed custom model with one of its remaining credentials as default."""
    require_manager(workspace=workspace, user=acting_user)
    if credential.workspace_id != workspace.pk or not credential.model_name:
        raise ApplicationError("That is not a custom model's credential of this workspace.")
    _check_model(credential.provider, credential.model_type)
    try:
        with transaction.atomic():
            config_changed(workspace.pk, ConfigKind.MODELS)
            model = CustomModel.objects.create(
                pk=_removed_model_pk(
                    workspace=workspace,
                    provider=credential.provider,
                    name=credential.model_name,
                    type=credential.model_type,
                ),
                workspace=workspace,
                provider=credential.provider,
                name=credential.model_name,
                type=credential.model_type,
                features=list(default_custom_model_features(credential.model_type)),
                created_by=actor_user(acting_user),
            )
    except IntegrityError:
        raise ApplicationError(f"{credential.model_name} is already a custom model.") from None
    scope = Credential.objects.select_for_update().filter(
        workspace=workspace,
        provider=credential.provider,
        model_name=credential.model_name,
        model_type=credential.model_type,
    )
    if not any(c.is_default for c in scope.defer("secret_data")):
        scope.filter(pk=credential.pk).update(is_default=True)
    audit_record(
        workspace=workspace,
        actor=acting_user,
        action="model.readd",
        target=model,
        details={"credential": credential.name},
    )
    return model


@transaction.atomic
def model_set_enabled(
    *,
    workspace: Workspace,
    provider_key: str,
    model_name: str,
    model_type: str,
    enabled: bool,
    acting_user: Actor,
) -> None:
    """Switch a model (predefined or custom) on or off for the whole workspace."""
    require_manager(workspace=workspace, user=acting_user)
    provider = get_provider(provider_key)
    if provider is None:
        raise ApplicationError("Unknown provider.")
    known = any(m.name == model_name and m.type == model_type for m in provider.models)
    known = (
        known
        or CustomModel.objects.filter(
            workspace=workspace, provider=provider_key, name=model_name, type=model_type
        ).exists()
    )
    if not known:
        raise ApplicationError("No such model.")
    ModelSetting.objects.update_or_create(
        workspace=workspace,
        provider=provider_key,
        model_name=model_name,
        model_type=model_type,
        defaults={"enabled": enabled},
    )
    config_changed(workspace.pk, ConfigKind.MODELS)
    audit_record(
        workspace=workspace,
        actor=acting_user,
        action="model.enable" if enabled else "model.disable",
        object_type="model",
        object_repr=f"{provider_key}/{model_name} ({model_type})",
    )


def model_refresh_request(*, credential: Credential, acting_user: User) -> ModelRefresh:
    """Queue "Refresh models" for a credential; the task lists what it can reach."""
    with jobs.queue_on_commit() as queue:
        require_manager(workspace=credential.workspace, user=acting_user)
        provider = get_provider(credential.provider)
        if provider is None or not provider.can_list_models:
            raise ApplicationError(
                f"{provider.label if provider else 'This provider'} cannot list its models."
            )
        refresh = ModelRefresh.objects.create(
            workspace=credential.workspace,
            provider=credential.provider,
            credential=credential,
            credential_name=credential.name,
            created_by=acting_user,
        )
        queue(refresh)
    return refresh


def model_refresh_run(*, refresh_id: str) -> None:
    """The task's body: list the credential's models through its adapter (SSRF-guarded), once,
    and only while the page still waits for the answer (workspaces/jobs.py)."""
    jobs.job_run(ModelRefresh, refresh_id, work=_list_models, finish=_apply_listing)


def _list_models(refresh: ModelRefresh) -> list[DiscoveredModel] | ProviderError:
    """The models the credential reaches (by name and type, each once), or the provider's
    refusal."""
    try:
        credential = Credential.objects.filter(pk=refresh.credential_id).first()
        if credential is None:
            raise UpstreamError("the credential was deleted")
        models = get_adapter(get_provider(refresh.provider)).list_models(credential.values())
        unique = {(m.name, m.type): m for m in models}
        return [unique[key] for key in sorted(unique)]
    except ProviderError as exc:
        return exc
    except SecretDecryptionError:
        return SecretUnreadable()
    except Exception:  # an adapter bug ends as a failed refresh, not a stuck one
        logger.exception("model refresh %s crashed", refresh.pk)
        return UpstreamError("unexpected error while listing models")


def _apply_listing(refresh: ModelRefresh, listing: list[DiscoveredModel] | ProviderError) -> None:
    """Keep what was found; where the provider says what a model can do (Ollama's /api/show,
    OpenRouter-like lists), the workspace's custom model of that name and type gets those
    features."""
    if isinstance(listing, ProviderError):
        jobs.job_fail(refresh, code=listing.code, message=listing.message, hint=listing.hint)
        return
    refresh.discovered = [
        {"name": m.name, "type": m.type}
        | ({"features": list(m.features)} if m.features is not None else {})
        for m in listing
    ]
    key = get_adapter(get_provider(refresh.provider)).adapter.model_key
    reported = {(key(m.name), m.type): m.features for m in listing if m.features is not None}
    if reported:
        actor = Operator(name="Refresh models", user=refresh.created_by)
        customs = CustomModel.objects.filter(workspace=refresh.workspace, provider=refresh.provider)
        for model in customs:
            features = reported.get((key(model.name), model.type))
            if features is not None:
                custom_model_set_features(custom_model=model, features=features, acting_user=actor)
    jobs.job_succeed(refresh)


def model_refresh_expire_if_overdue(*, refresh: ModelRefresh) -> ModelRefresh:
    """Polled by the page: a refresh nobody answered in time ends as "timed out"."""
    return jobs.job_expire_if_overdue(refresh)
