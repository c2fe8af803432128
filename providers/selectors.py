"""Reads for the Model Providers pages: the catalog joined with a workspace's configuration;
and the Environments page's list of environments."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404

from balancing.selectors import (
    PoolFlag,
    environment_pins,
    pinned_for,
    pool_flags,
    pool_warning_counts,
)
from credentials.models import Credential, CustomModel
from credentials.selectors import ProviderCredentialSummary, provider_credential_summaries
from system.quotas import quota_states
from system.selectors import SystemState, preferences, system_offer, system_state
from upstream.registry import catalog
from upstream.schema import MODEL_TYPES, PredefinedModel, ProviderSpec
from upstream.status import ModelStatus, model_status
from workspaces.exceptions import ApplicationError
from workspaces.models import Environment, Workspace
from workspaces.services import default_environment

from .models import ModelSetting


@dataclass(frozen=True)
class ProviderRow:
    provider: ProviderSpec
    credentials: ProviderCredentialSummary
    pools_stopped: int = 0  # models whose load balancing stopped on its own
    system: SystemState | None = None  # offered by the operator: the choice and the quota

    @property
    def configured(self) -> bool:
        return self.credentials.configured or self.system is not None

    @property
    def status(self) -> str:
        """The badge's machine word: not-configured, failing, no-default, active, system or
        quota-exceeded."""
        if self.system is not None and self.system.in_use:
            return "quota-exceeded" if self.system.quota.exceeded else "system"
        if not self.credentials.configured:
            return "not-configured"
        if self.credentials.failing:
            return "failing"
        if not self.credentials.default_name:
            return "no-default"
        return "active"

    @property
    def status_label(self) -> str:
        return {
            "not-configured": "Not configured",
            "failing": f"{self.credentials.failing} failing",
            "no-default": "No default",
            "active": "Active",
            "system": "Active (system)",
            "quota-exceeded": "Quota exceeded",
        }[self.status]

    @property
    def key(self) -> str:
        return self.provider.key


def provider_overview(
    *, workspace: Workspace, model_type: str = "", query: str = ""
) -> list[ProviderRow]:
    """Every catalog provider as the workspace sees it, configured ones first.

    Filters: `model_type` keeps providers supporting that type, `query` matches the label, key
    or a model name (case-insensitive).
    """
    query = query.strip().lower()
    summaries = provider_credential_summaries(workspace=workspace)
    stopped = pool_warning_counts(workspace=workspace)
    offered = [p.key for p in catalog() if system_offer(p.key) is not None]
    quotas = quota_states(workspace, offered) if offered else {}
    chosen = preferences(workspace) if offered else {}
    rows = []
    for provider in catalog():
        if model_type and model_type not in provider.model_types:
            continue
        if query and not _matches(provider, query):
            continue
        summary = summaries.get(provider.key, ProviderCredentialSummary())
        system = None
        if provider.key in quotas:
            system = system_state(
                workspace,
                provider.key,
                has_custom=bool(summary.default_name),
                preference=chosen.get(provider.key, ""),
                quota=quotas[provider.key],
            )
        rows.append(
            ProviderRow(
                provider=provider,
                credentials=summary,
                pools_stopped=stopped.get(provider.key, 0),
                system=system,
            )
        )
    return sorted(rows, key=lambda row: not row.configured)


def _matches(provider: ProviderSpec, query: str) -> bool:
    haystack = [provider.label.lower(), provider.key, provider.description.lower()]
    haystack += [m.name.lower() for m in provider.models]
    return any(query in text for text in haystack)


def model_type_choices() -> list[tuple[str, str]]:
    return list(MODEL_TYPES.items())


@dataclass(frozen=True)
class ModelRow:
    """A model as a provider page lists it: predefined or custom, with its status."""

    name: str
    type: str
    label: str
    status: ModelStatus
    enabled: bool
    custom: CustomModel | None = None
    predefined: PredefinedModel | None = None
    credentials: tuple[Credential, ...] = ()
    load_balancing: bool = False  # its pool is on: calls rotate over several credentials
    pool_warning: str = ""  # its load balancing stopped on its own: why
    source: str = "custom"  # "system": the operator's credentials serve it, within the quota

    @property
    def pool_query(self) -> str:
        """The query string naming this model on its Load balancing page."""
        from urllib.parse import urlencode

        params = {"model": self.name, "type": self.type}
        if self.custom is not None:
            params["custom"] = "1"
        return urlencode(params)

    @property
    def default_credential(self) -> Credential | None:
        return next((c for c in self.credentials if c.is_default), None)


@dataclass(frozen=True)
class RemovedModel:
    """A removed custom model whose credentials remain (offered for re-add)."""

    name: str
    type: str
    credentials: tuple[Credential, ...]


@dataclass(frozen=True)
class ProviderModels:
    predefined: list[ModelRow]
    custom: list[ModelRow]
    removed: list[RemovedModel]
    system: SystemState | None = None  # the operator offers this provider: quota and choice


def _default_status(credentials) -> str | None:
    """The status of the credential a scope's calls use (its default), None without one."""
    default = next((c for c in credentials if c.is_default), None)
    return default.status if default else None


def _credential_status(credentials, flag: PoolFlag | None) -> str | None:
    """The status of what serves the model's calls: its pool when load balancing is on,
    otherwise its default credential."""
    if flag is not None and flag.active:
        return flag.credential_status(list(credentials))
    return _default_status(credentials)


@dataclass(frozen=True)
class _EnvironmentChoices:
    """What an environment pins for a provider's models: its own pools' flags and its pins
    ({(name, type, custom): credential id}, ("", "", False) the provider pin). Empty: the
    workspace's configuration alone."""

    flags: dict[tuple[str, str, bool], PoolFlag]
    pins: dict[tuple[str, str, bool], int]


_NO_ENVIRONMENT = _EnvironmentChoices({}, {})


def _serving(
    credentials, key: tuple[str, str, bool], flag: PoolFlag | None, chosen: _EnvironmentChoices
) -> tuple[str | None, PoolFlag | None]:
    """The status of what serves a model's calls, and the pool in effect, in the order
    invocation/failover.py routes them: the environment's own pool, else the credential it
    pins (the model's, else for a predefined model the provider's), else the workspace's pool
    or default credential."""
    name, model_type, custom = key
    pinned_id = pinned_for(chosen.pins, name=name, model_type=model_type, custom=custom)
    pinned = next((c for c in credentials if c.pk == pinned_id), None)
    own = chosen.flags.get(key)
    if own is not None and own.active:
        return own.credential_status(list(credentials), pinned), own
    if pinned is not None:
        return pinned.status, None
    return _credential_status(credentials, flag), flag


def _custom_model_row(
    model: CustomModel,
    credentials,
    *,
    enabled: bool,
    flag: PoolFlag | None = None,
    chosen: _EnvironmentChoices = _NO_ENVIRONMENT,
) -> ModelRow:
    status, flag = _serving(credentials, (model.name, model.type, True), flag, chosen)
    return ModelRow(
        name=model.name,
        type=model.type,
        label=model.name,
        custom=model,
        enabled=enabled,
        credentials=tuple(credentials),
        status=model_status(enabled=enabled, default_credential_status=status, custom=True),
        load_balancing=bool(flag and flag.active),
        pool_warning=flag.warning if flag else "",
    )


def custom_model_row(
    *, workspace: Workspace, model: CustomModel, credentials: list[Credential]
) -> ModelRow:
    """One custom model's row from the credentials its page already loaded."""
    disabled = ModelSetting.objects.filter(
        workspace=workspace,
        provider=model.provider,
        model_name=model.name,
        model_type=model.type,
        enabled=False,
    ).exists()
    flags = pool_flags(workspace=workspace, provider=model.provider)
    return _custom_model_row(
        model, credentials, enabled=not disabled, flag=flags.get((model.name, model.type, True))
    )


def provider_models(
    *, workspace: Workspace, provider: ProviderSpec, environment: int | None = None
) -> ProviderModels:
    """Every model of a provider for a workspace, with statuses and load-balancing flags, in
    five queries whatever the number of models and credentials.

    `environment` (an id) gives each model's status in that environment, where its pins and
    own pools come first (two or three more queries); None: the workspace's configuration
    alone, as the provider page shows it."""
    credentials = list(
        Credential.objects.filter(workspace=workspace, provider=provider.key)
        .only(
            "pk", "name", "model_name", "model_type", "is_default", "status", "masks", "created_at"
        )
        .order_by("created_at", "pk")
    )
    customs = list(CustomModel.objects.filter(workspace=workspace, provider=provider.key))
    disabled = set(
        ModelSetting.objects.filter(
            workspace=workspace, provider=provider.key, enabled=False
        ).values_list("model_name", "model_type")
    )
    by_scope: dict[tuple[str, str], list[Credential]] = {}
    for credential in credentials:
        by_scope.setdefault((credential.model_name, credential.model_type), []).append(credential)

    flags = pool_flags(workspace=workspace, provider=provider.key)
    chosen = _NO_ENVIRONMENT
    if environment is not None:
        chosen = _EnvironmentChoices(
            pool_flags(workspace=workspace, provider=provider.key, environment=environment),
            environment_pins(
                workspace=workspace, environment_id=environment, provider=provider.key
            ),
        )
    provider_credentials = by_scope.get(("", ""), [])
    system = system_state(
        workspace, provider.key, has_custom=_default_status(provider_credentials) is not None
    )
    predefined = []
    for m in provider.models:
        enabled = (m.name, m.type) not in disabled
        if system is not None and system.in_use and system.offer.offers(m.name):
            predefined.append(_system_row(m.name, m.type, m.label, enabled, system, m))
            continue
        key = (m.name, m.type, False)
        status, flag = _serving(provider_credentials, key, flags.get(key), chosen)
        predefined.append(
            ModelRow(
                name=m.name,
                type=m.type,
                label=m.label,
                predefined=m,
                enabled=enabled,
                status=model_status(enabled=enabled, default_credential_status=status),
                load_balancing=bool(flag and flag.active),
                pool_warning=flag.warning if flag else "",
            )
        )
    if system is not None and system.in_use:
        # Models the operator's refresh found that the catalog does not list yet.
        predefined += [
            _system_row(name, model_type, name, (name, model_type) not in disabled, system)
            for name, model_type in system.offer.extra_models()
        ]
    custom = [
        _custom_model_row(
            model,
            by_scope.get((model.name, model.type), []),
            enabled=(model.name, model.type) not in disabled,
            flag=flags.get((model.name, model.type, True)),
            chosen=chosen,
        )
        for model in sorted(customs, key=lambda c: (c.type, c.name.lower()))
    ]
    present = {(m.name, m.type) for m in customs}
    removed = [
        RemovedModel(name=name, type=model_type, credentials=tuple(scope))
        for (name, model_type), scope in sorted(by_scope.items())
        if name and (name, model_type) not in present
    ]
    return ProviderModels(predefined=predefined, custom=custom, removed=removed, system=system)


def _system_row(
    name: str, model_type: str, label: str, enabled: bool, system: SystemState, spec=None
) -> ModelRow:
    return ModelRow(
        name=name,
        type=model_type,
        label=label,
        predefined=spec,
        enabled=enabled,
        status=model_status(
            enabled=enabled,
            default_credential_status="active",
            quota_exceeded=system.quota.exceeded,
        ),
        source="system",
    )


def custom_model_get_or_404(*, workspace: Workspace, provider: str, pk) -> CustomModel:
    """Another workspace's (or provider's) custom model id answers 404."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such model.") from None
    return get_object_or_404(CustomModel, workspace=workspace, provider=provider, pk=pk)


class ModelUnavailable(ApplicationError):
    """A model that cannot be used now; the message says why (disabled, no credential...)."""

    field = "model"
    http_status = 403
    error_type = "permission_error"
    error_code = "model_unavailable"


class ModelNotFound(ModelUnavailable):
    """The workspace has no model of that name and type at all."""

    http_status = 404
    error_type = "invalid_request_error"
    error_code = "model_not_found"


def model_for_use(
    *,
    workspace: Workspace,
    provider: ProviderSpec,
    name: str,
    model_type: str,
    custom: bool | None = None,
    environment: int | None = None,
) -> ModelRow:
    """The model a call would use (in `environment`, an id: see `provider_models`), or
    ModelUnavailable: disabled, no usable credential, or unknown (ModelNotFound).

    Invocation (the Python API and the gateway) goes through here, so a model switched off in
    the workspace is refused wherever it is called from.
    """
    models = provider_models(workspace=workspace, provider=provider, environment=environment)
    row = next(
        (
            r
            for r in [*models.predefined, *models.custom]
            if r.name == name
            and r.type == model_type
            and (custom is None or (r.custom is not None) == custom)
        ),
        None,
    )
    if row is None:
        raise ModelNotFound(f"{provider.key}/{name} is not a {model_type} model of this workspace.")
    if not row.status.usable:
        raise ModelUnavailable(
            f"{provider.key}/{name}: {row.status.label.lower()}. {row.status.reason}"
        )
    return row


@dataclass(frozen=True)
class RefreshResults:
    available: list[PredefinedModel]  # predefined models the credential can reach
    unavailable: list[PredefinedModel]  # predefined models it cannot
    # other models: name, type, already a custom model, features the provider reported (None)
    discovered: list[tuple[str, str, bool, list[str] | None]]


def refresh_results(*, workspace: Workspace, provider: ProviderSpec, refresh) -> RefreshResults:
    names = {item["name"] for item in refresh.discovered}
    predefined_names = {m.name for m in provider.models}
    customs = set(
        CustomModel.objects.filter(workspace=workspace, provider=provider.key).values_list(
            "name", "type"
        )
    )
    return RefreshResults(
        available=[m for m in provider.models if m.name in names],
        unavailable=[m for m in provider.models if m.name not in names],
        discovered=[
            (
                item["name"],
                item["type"],
                (item["name"], item["type"]) in customs,
                item.get("features"),
            )
            for item in refresh.discovered
            if item["name"] not in predefined_names
        ],
    )


def environment_list(*, workspace: Workspace) -> list[Environment]:
    """The workspace's environments, the default first, each with `active_keys` (its API
    keys not revoked). The default one is made if missing (every workspace has one)."""
    default_environment(workspace)
    return list(
        Environment.objects.filter(workspace=workspace).annotate(
            active_keys=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True))
        )
    )


def environment_get_or_404(*, workspace: Workspace, pk) -> Environment:
    return get_object_or_404(Environment, workspace=workspace, pk=pk)
