"""A workspace's provider configuration written back in the provisioning file format, every
secret a `${NAME}` reference (`export_providers`). Its environments are written only when there
is more to say than the Production every workspace starts with, so a workspace that never used
them exports exactly as before environments existed."""

from __future__ import annotations

import re
from typing import Any

import yaml

from balancing.models import Pin, Pool, PoolEntry
from credentials.models import Credential, CustomModel
from credentials.services import credential_schema
from system.models import ProviderPreference
from upstream.registry import catalog
from upstream.schema import CredentialSchema, ProviderSpec
from workspaces.models import Environment, Workspace
from workspaces.services import DEFAULT_ENVIRONMENT_NAME

from .parser import DEFAULT_CONFIG, Scope, custom_model_path


def provisioning_export(*, workspace: Workspace) -> str:
    """The workspace's provider configuration as a file `apply_providers` takes back, every
    secret replaced by a `${NAME}` reference (read from the masks: no secret is decrypted)."""
    credentials = list(Credential.objects.filter(workspace=workspace).defer("secret_data"))
    names_by_id = {c.pk: c.name for c in credentials}
    custom_models = list(CustomModel.objects.filter(workspace=workspace))
    pools = list(Pool.objects.filter(workspace=workspace).order_by("model_type", "model_name"))
    workspace_pools = [p for p in pools if p.environment_id is None]
    entries: dict[int, list[PoolEntry]] = {}
    for entry in PoolEntry.objects.filter(pool__workspace=workspace):
        entries.setdefault(entry.pool_id, []).append(entry)
    preferences = {
        p.provider: p.preferred for p in ProviderPreference.objects.filter(workspace=workspace)
    }
    with_pools = workspace.load_balancing_allowed
    variables: list[tuple[str, str]] = []  # (name, where)

    def credential_list(provider: ProviderSpec, scope: Scope, path: str, into: dict) -> None:
        in_scope = [
            c
            for c in credentials
            if (c.provider, c.model_name, c.model_type) == (*scope.fields.values(),)
        ]
        if not in_scope:
            return
        schema = credential_schema(provider, custom=bool(scope.model_name))
        into["credentials"] = []
        for credential in in_scope:
            values = {}
            for spec in schema.fields:
                if spec.is_secret and spec.variable in credential.masks:
                    name = _variable_name(
                        scope, credential.name, spec.variable, schema, taken=variables
                    )
                    where = f"{path}.credentials[{credential.name}].values.{spec.variable}"
                    variables.append((name, where))
                    values[spec.variable] = f"${{{name}}}"
                elif not spec.is_secret and spec.variable in credential.config:
                    values[spec.variable] = credential.config[spec.variable]
            into["credentials"].append({"name": credential.name, "values": values})
        default = next((c.name for c in in_scope if c.is_default), None)
        if default is not None:
            into["default_credential"] = default

    providers: dict[str, dict] = {}
    for provider in catalog():
        path = f"providers.{provider.key}"
        section: dict[str, Any] = {}
        if provider.key in preferences:
            section["preferred"] = preferences[provider.key]
        credential_list(provider, Scope(provider.key), path, section)
        models = []
        for model in custom_models:
            if model.provider != provider.key:
                continue
            item: dict[str, Any] = {
                "name": model.name,
                "type": model.type,
                "features": list(model.features or ()),
            }
            scope = Scope(provider.key, model.name, model.type)
            credential_list(provider, scope, custom_model_path(*scope.fields.values()), item)
            if item.get("credentials"):  # a model without credentials cannot be called
                models.append(item)
        if models:
            section["custom_models"] = models
        balancing = [
            _pool_out(pool, entries.get(pool.pk, []), names_by_id)
            for pool in workspace_pools
            if pool.provider == provider.key and with_pools
        ]
        if balancing:
            section["load_balancing"] = balancing
        if section:
            providers[provider.key] = section

    document: dict[str, Any] = {"workspace": workspace.slug, "providers": providers}
    environments = _environments_out(
        workspace, [p for p in pools if p.environment_id and with_pools], entries, names_by_id
    )
    if environments is not None:
        document["environments"] = environments
    body = yaml.safe_dump(
        document,
        sort_keys=False,
        default_flow_style=None,
        allow_unicode=True,
        width=100,
    )
    header = [
        f"# Provider configuration of the workspace {workspace.slug!r}, written by",
        "# `manage.py export_providers`. Secrets are not in this file: set each ${NAME} below",
        "# in the environment before `manage.py apply_providers` reads it.",
    ]
    header += [f"#   {name}  ({where})" for name, where in variables]
    if pools and not with_pools:
        header.append(
            "# Load balancing is left out: the workspace's plan does not include it (its "
            "pools are kept)."
        )
    return "\n".join(header) + "\n" + body


def _pool_out(pool: Pool, entries: list[PoolEntry], names_by_id: dict[int, str]) -> dict:
    item: dict[str, Any] = {"model": pool.model_name, "type": pool.model_type}
    if pool.custom:
        item["custom"] = True
    item["enabled"] = pool.enabled
    item["entries"] = [
        _entry_out(names_by_id.get(e.credential_id) if e.credential_id else None, e)
        for e in entries
    ]
    return item


def _environments_out(
    workspace: Workspace,
    pools: list[Pool],
    entries: dict[int, list[PoolEntry]],
    names_by_id: dict[int, str],
) -> list[dict] | None:
    """The `environments` list; None when the workspace has only its default environment as
    it was made (Production, members may create keys) with no pins and no pools of its own."""
    environments = list(Environment.objects.filter(workspace=workspace))
    pins = list(Pin.objects.filter(workspace=workspace))
    fresh = [
        e
        for e in environments
        if e.is_default and e.name == DEFAULT_ENVIRONMENT_NAME and e.members_create_keys
    ]
    if environments == fresh and not pins and not pools:
        return None
    listed = []
    for environment in environments:
        item: dict[str, Any] = {"name": environment.name}
        if environment.is_default:
            item["default"] = True
        item["members_create_keys"] = environment.members_create_keys
        mine = [p for p in pins if p.environment_id == environment.pk]
        if mine:
            item["pins"] = [_pin_out(pin, names_by_id) for pin in mine]
        balancing: dict[str, list[dict]] = {}
        for pool in pools:
            if pool.environment_id == environment.pk:
                balancing.setdefault(pool.provider, []).append(
                    _pool_out(pool, entries.get(pool.pk, []), names_by_id)
                )
        if balancing:
            item["load_balancing"] = dict(sorted(balancing.items()))
        listed.append(item)
    return listed


def _pin_out(pin: Pin, names_by_id: dict[int, str]) -> dict:
    item: dict[str, Any] = {"provider": pin.provider}
    if pin.model_name:
        item["model"] = pin.model_name
        item["type"] = pin.model_type
        if pin.custom:
            item["custom"] = True
    item["credential"] = names_by_id[pin.credential_id]
    return item


def _entry_out(name: str | None, entry: PoolEntry) -> Any:
    if name is None:
        return DEFAULT_CONFIG if entry.enabled else {"credential": None, "enabled": False}
    if name == DEFAULT_CONFIG or not entry.enabled:
        # A credential literally named "default" must not read as the Default Config.
        return {"credential": name, **({} if entry.enabled else {"enabled": False})}
    return name


def _variable_name(
    scope: Scope,
    credential: str,
    variable: str,
    schema: CredentialSchema,
    *,
    taken: list[tuple[str, str]],
) -> str:
    """OPENAI_KEY_A for openai's "key-a": provider, custom model, credential name and (when
    the schema has several secrets) the field, upper-cased, anything else becoming "_"."""
    parts = [scope.provider, scope.model_name, credential]
    if len(schema.secret_variables) > 1:
        parts.append(variable)
    base = re.sub(r"[^A-Z0-9]+", "_", "_".join(p for p in parts if p).upper()).strip("_")
    used = {name for name, _ in taken}
    name, n = base, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    return name
