"""Declarative provisioning: a YAML file states a workspace's provider configuration (provider
preferences, credentials with secrets from environment variables, custom models, default
credentials and load-balancing pools); this module parses it, plans it against the database,
applies it all or nothing, and exports a workspace back into the same format.

The commands `apply_providers` and `export_providers` are thin shells around it. It writes
nothing itself: every write is a service's (`credential_store`, `credential_set_default`,
`credential_delete`, `custom_model_ensure`, `custom_model_remove`, `pool_configure`,
`pool_delete`, `provider_preference_set`), called with the operator as the actor
(`Operator("manage.py apply_providers")`), so the rules and the audit rows are the page's and
the audit log names the command. What it adds is the check before: credentials are validated
by the adapter's `validate` exactly as `pending_validation_run` does, outside the transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.db import transaction

from balancing.models import MAX_ENTRIES, Pool, PoolEntry
from balancing.services import (
    MIN_ENTRIES,
    ModelRef,
    model_ref_check,
    pool_configure,
    pool_delete,
    require_load_balancing,
)
from credentials.crypto import SecretDecryptionError
from credentials.models import Credential, CustomModel
from credentials.services import (
    clean_model_name,
    clean_name,
    credential_delete,
    credential_schema,
    credential_set_default,
    credential_store,
    custom_model_ensure,
    kept_secret_moved,
)
from system.models import Preferred, ProviderPreference
from system.services import provider_preference_set
from upstream.adapters import get_adapter
from upstream.errors import ProviderError, UpstreamError
from upstream.forms import CredentialValuesInvalid, clean_credential_values
from upstream.registry import catalog, get_provider
from upstream.schema import CredentialSchema, ProviderSpec
from workspaces.actors import Actor, Operator
from workspaces.exceptions import ApplicationError
from workspaces.models import Workspace

from .services import custom_model_remove

logger = logging.getLogger(__name__)

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_CONFIG = "default"  # a pool entry naming the Default Config
COMMAND = Operator("manage.py apply_providers")  # who the audit log says acted

CREATE, UPDATE, UNCHANGED, DELETE = "create", "update", "unchanged", "delete"


class ProvisioningError(ApplicationError):
    """One item of the file cannot be applied; the message is "<item path>: <reason>"."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


# --- the desired state, as parsed from the file ------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Whose credentials: a provider's (no model) or one custom model's."""

    provider: str
    model_name: str = ""
    model_type: str = ""

    @property
    def fields(self) -> dict[str, str]:
        return {
            "provider": self.provider,
            "model_name": self.model_name,
            "model_type": self.model_type,
        }


@dataclass(frozen=True)
class CredentialSpec:
    path: str
    scope: Scope
    name: str
    config: dict[str, Any]
    secrets: dict[str, Any] = field(repr=False)  # never in a repr, a log line or a traceback


@dataclass(frozen=True)
class CredentialListSpec:
    """A `credentials` list with its `default_credential` (None when the file names none)."""

    path: str
    scope: Scope
    credentials: tuple[CredentialSpec, ...]
    default: str | None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.credentials]


@dataclass(frozen=True)
class CustomModelSpec:
    path: str
    provider: str
    name: str
    type: str
    credentials: CredentialListSpec


@dataclass(frozen=True)
class PoolEntrySpec:
    credential: str | None  # None: the Default Config
    enabled: bool = True


@dataclass(frozen=True)
class PoolSpec:
    path: str
    ref: ModelRef
    enabled: bool
    entries: tuple[PoolEntrySpec, ...]


@dataclass(frozen=True)
class ProviderSection:
    path: str
    provider: str
    preferred: str | None
    credentials: CredentialListSpec
    custom_models: tuple[CustomModelSpec, ...]
    pools: tuple[PoolSpec, ...]


@dataclass(frozen=True)
class ProvisioningFile:
    workspace: str
    providers: tuple[ProviderSection, ...]


# --- parsing -----------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice in one mapping is an error, not last-wins."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true or false"}.get(
        type(value), type(value).__name__
    )


def _mapping(data: Any, path: str, *, allowed: set[str], required: set[str] = frozenset()):
    if not isinstance(data, dict):
        raise ProvisioningError(path or "file", f"must be a mapping, not {_kind(data)}")
    for key in data:
        if not isinstance(key, str):
            raise ProvisioningError(path or "file", f"the key {key!r} is not text")
        if key not in allowed:
            raise ProvisioningError(
                _join(path, key), f"unknown key (allowed here: {', '.join(sorted(allowed))})"
            )
    for key in sorted(required):
        if data.get(key) is None:
            raise ProvisioningError(_join(path, key), "is required")
    return data


def _text(data: dict, key: str, path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ProvisioningError(_join(path, key), "must be non-empty text")
    return value.strip()


def _flag(data: dict, key: str, path: str, default: bool | None = None) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ProvisioningError(_join(path, key), "must be true or false")
    return value


def _items(data: dict, key: str, path: str) -> list:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProvisioningError(_join(path, key), f"must be a list, not {_kind(value)}")
    return value


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ProvisioningError(path, "must be text")
    try:
        name = clean_name(value)
    except ApplicationError as exc:
        raise ProvisioningError(path, exc.message) from None
    if not name:
        raise ProvisioningError(path, "must not be empty")
    return name


def provisioning_file_parse(
    text: str, *, environ: Mapping[str, str], allow_inline_secrets: bool = False
) -> ProvisioningFile:
    """The file's desired state, every value checked against the catalog and secrets read from
    `environ`; the first problem raises ProvisioningError. Reads no database."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        # Only the position and the problem: YAML's own message quotes the offending line,
        # which could hold an inline secret.
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ProvisioningError(where, f"not valid YAML: {problem}") from None
    if data is None:
        raise ProvisioningError("file", "is empty")
    _mapping(data, "", allowed={"workspace", "providers"}, required={"workspace"})
    workspace = _text(data, "workspace", "")
    providers = data.get("providers") or {}
    _mapping(providers, "providers", allowed=set(providers))
    known = [p.key for p in catalog()]
    for key in providers:
        if key not in known:
            raise ProvisioningError(
                f"providers.{key}", f"unknown provider (the catalog has: {', '.join(known)})"
            )
    reader = _Reader(environ=environ, allow_inline_secrets=allow_inline_secrets)
    return ProvisioningFile(
        workspace=workspace,
        providers=tuple(reader.section(key, providers[key]) for key in providers),
    )


class _Reader:
    def __init__(self, *, environ: Mapping[str, str], allow_inline_secrets: bool):
        self.environ = environ
        self.allow_inline_secrets = allow_inline_secrets

    def section(self, key: str, data: Any) -> ProviderSection:
        path = f"providers.{key}"
        provider = get_provider(key)
        _mapping(
            data if data is not None else {},
            path,
            allowed={
                "preferred",
                "credentials",
                "default_credential",
                "custom_models",
                "load_balancing",
            },
        )
        data = data or {}
        preferred = data.get("preferred")
        if preferred is not None and preferred not in Preferred.values:
            raise ProvisioningError(
                f"{path}.preferred", f"must be one of {', '.join(Preferred.values)}"
            )
        credentials = self.credential_list(
            data, path, Scope(provider.key), provider.credential_schema
        )
        custom_models = self.custom_models(data, path, provider)
        pools = self.pools(data, path, provider, credentials, custom_models)
        return ProviderSection(
            path=path,
            provider=provider.key,
            preferred=preferred,
            credentials=credentials,
            custom_models=custom_models,
            pools=pools,
        )

    def credential_list(
        self, data: dict, path: str, scope: Scope, schema: CredentialSchema
    ) -> CredentialListSpec:
        credentials: list[CredentialSpec] = []
        for index, item in enumerate(_items(data, "credentials", path)):
            item_path = f"{path}.credentials[{index}]"
            _mapping(item, item_path, allowed={"name", "values"}, required={"name", "values"})
            name = _name(item["name"], f"{item_path}.name")
            item_path = f"{path}.credentials[{name}]"
            if any(c.name == name for c in credentials):
                raise ProvisioningError(item_path, "is listed twice")
            config, secrets = self.values(item["values"], f"{item_path}.values", schema)
            credentials.append(CredentialSpec(item_path, scope, name, config, secrets))
        default = data.get("default_credential")
        if default is not None:
            default = _name(default, f"{path}.default_credential")
            if default not in [c.name for c in credentials]:
                raise ProvisioningError(
                    f"{path}.default_credential",
                    f"{default!r} is not one of the credentials listed here",
                )
        return CredentialListSpec(path, scope, tuple(credentials), default)

    def values(
        self, values: Any, path: str, schema: CredentialSchema
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(config, secrets) as the form would clean them; secrets come from `${NAME}`."""
        if not isinstance(values, dict):
            raise ProvisioningError(path, f"must be a mapping, not {_kind(values)}")
        fields = [f.variable for f in schema.fields]
        for key in values:
            if key not in fields:
                raise ProvisioningError(
                    _join(path, str(key)),
                    f"is not a field of this provider's schema (fields: {', '.join(fields)})",
                )
        resolved: dict[str, Any] = {}
        for key, raw in values.items():
            value_path = _join(path, key)
            if raw is None:
                continue
            if schema.get(key).is_secret:
                reference = ENV_REFERENCE.fullmatch(raw.strip()) if isinstance(raw, str) else None
                if reference is not None:
                    resolved[key] = self.env(reference.group(1), value_path)
                    continue
                if not self.allow_inline_secrets:
                    raise ProvisioningError(
                        value_path,
                        "is a secret: give it as ${ENV_VAR}, not inline in the file (or pass "
                        "--allow-inline-secrets)",
                    )
            if isinstance(raw, str):
                raw = ENV_REFERENCE.sub(lambda m, p=value_path: self.env(m.group(1), p), raw)
            resolved[key] = raw
        try:
            cleaned = clean_credential_values(schema, resolved)
        except CredentialValuesInvalid as exc:
            raise ProvisioningError(_join(path, exc.field), exc.errors[exc.field][0]) from None
        secret_names = set(schema.secret_variables)
        config = {k: v for k, v in cleaned.items() if k not in secret_names}
        secrets = {k: v for k, v in cleaned.items() if k in secret_names}
        return config, secrets

    def env(self, name: str, path: str) -> str:
        value = self.environ.get(name)
        if value is None:
            raise ProvisioningError(path, f"the environment variable {name} is not set")
        if not value:
            raise ProvisioningError(path, f"the environment variable {name} is empty")
        return value

    def custom_models(self, data: dict, path: str, provider: ProviderSpec):
        models: list[CustomModelSpec] = []
        for index, item in enumerate(_items(data, "custom_models", path)):
            item_path = f"{path}.custom_models[{index}]"
            if not provider.supports_custom_models:
                raise ProvisioningError(item_path, f"{provider.label} has no custom models")
            _mapping(
                item,
                item_path,
                allowed={"name", "type", "credentials", "default_credential"},
                required={"name", "type"},
            )
            try:
                name = clean_model_name(_text(item, "name", item_path))
            except ApplicationError as exc:
                raise ProvisioningError(f"{item_path}.name", exc.message) from None
            model_type = self.model_type(item, item_path, provider)
            item_path = f"{path}.custom_models[{name} ({model_type})]"
            if any((m.name, m.type) == (name, model_type) for m in models):
                raise ProvisioningError(item_path, "is listed twice")
            scope = Scope(provider.key, name, model_type)
            credentials = self.credential_list(
                item, item_path, scope, credential_schema(provider, custom=True)
            )
            if not credentials.credentials:
                raise ProvisioningError(
                    f"{item_path}.credentials", "a custom model needs at least one credential"
                )
            models.append(CustomModelSpec(item_path, provider.key, name, model_type, credentials))
        return tuple(models)

    @staticmethod
    def model_type(item: dict, path: str, provider: ProviderSpec) -> str:
        model_type = _text(item, "type", path)
        if model_type not in provider.model_types:
            raise ProvisioningError(
                f"{path}.type",
                f"{provider.label} does not offer {model_type!r} models "
                f"(types: {', '.join(provider.model_types)})",
            )
        return model_type

    def pools(
        self,
        data: dict,
        path: str,
        provider: ProviderSpec,
        credentials: CredentialListSpec,
        custom_models: tuple[CustomModelSpec, ...],
    ) -> tuple[PoolSpec, ...]:
        pools: list[PoolSpec] = []
        for index, item in enumerate(_items(data, "load_balancing", path)):
            item_path = f"{path}.load_balancing[{index}]"
            _mapping(
                item,
                item_path,
                allowed={"model", "type", "custom", "enabled", "entries"},
                required={"model", "type", "enabled"},
            )
            ref = ModelRef(
                provider=provider.key,
                name=_text(item, "model", item_path),
                type=self.model_type(item, item_path, provider),
                custom=_flag(item, "custom", item_path, default=False),
            )
            item_path = f"{path}.load_balancing[{_pool_label(ref)}]"
            if any(p.ref == ref for p in pools):
                raise ProvisioningError(item_path, "is listed twice")
            if ref.custom:
                model = next(
                    (m for m in custom_models if (m.name, m.type) == (ref.name, ref.type)), None
                )
                if model is None:
                    raise ProvisioningError(
                        f"{item_path}.model",
                        f"{ref.name} ({ref.type}) is not one of {path}.custom_models",
                    )
                scope = model.credentials
            else:
                scope = credentials
            entries = tuple(
                self.pool_entry(entry, f"{item_path}.entries[{i}]", scope)
                for i, entry in enumerate(_items(item, "entries", item_path))
            )
            if len(entries) > MAX_ENTRIES:
                raise ProvisioningError(
                    f"{item_path}.entries", f"a pool holds at most {MAX_ENTRIES} entries"
                )
            enabled = _flag(item, "enabled", item_path)
            active = sum(e.enabled for e in entries)
            if enabled and active < MIN_ENTRIES:
                raise ProvisioningError(
                    item_path,
                    f"load balancing needs at least {MIN_ENTRIES} enabled entries; this pool "
                    f"lists {active}",
                )
            pools.append(PoolSpec(item_path, ref, enabled, entries))
        return tuple(pools)

    @staticmethod
    def pool_entry(entry: Any, path: str, scope: CredentialListSpec) -> PoolEntrySpec:
        enabled = True
        if isinstance(entry, dict):
            _mapping(entry, path, allowed={"credential", "enabled"})
            if "credential" not in entry:
                raise ProvisioningError(f"{path}.credential", "is required (null: Default Config)")
            enabled = _flag(entry, "enabled", path, default=True)
            name = entry["credential"]
            if name is None:
                return PoolEntrySpec(None, enabled)
        elif isinstance(entry, str):
            name = entry
            if name.strip() == DEFAULT_CONFIG:
                return PoolEntrySpec(None)
        else:
            raise ProvisioningError(
                path, f"must be a credential's name, {DEFAULT_CONFIG!r} or a mapping"
            )
        name = _name(name, path)
        if name not in scope.names:
            raise ProvisioningError(
                path, f"no credential named {name!r} in {scope.path}.credentials"
            )
        return PoolEntrySpec(name, enabled)


def _pool_label(ref: ModelRef) -> str:
    return f"{ref.name} ({ref.type}{', custom' if ref.custom else ''})"


# --- the plan ----------------------------------------------------------------------------------

# Writes run in this order, whatever order the plan prints: credentials exist before a default
# or a pool names them, and pools stop naming pruned credentials before those go (so pruning
# does not "stop" a pool that the file keeps); a pruned custom model is removed before its
# credentials go, so its removal is audited rather than implied by its last credential's.
PHASE_PREFERENCE, PHASE_MODEL, PHASE_CREDENTIAL, PHASE_DEFAULT = 0, 1, 2, 3
PHASE_POOL_DELETE, PHASE_POOL, PHASE_MODEL_DELETE, PHASE_CREDENTIAL_DELETE = 4, 5, 6, 7


@dataclass(frozen=True)
class Step:
    """One line of the plan; `write` does it (None when unchanged), `validate` is the
    credential a provider must accept first."""

    action: str
    path: str
    detail: str = ""
    phase: int = field(default=0, compare=False)
    write: Callable[[], None] | None = field(default=None, compare=False, repr=False)
    validate: CredentialSpec | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.action:<9} {self.path}" + (f" ({self.detail})" if self.detail else "")


def provisioning_workspace(spec: ProvisioningFile) -> Workspace:
    workspace = Workspace.objects.filter(slug=spec.workspace).first()
    if workspace is None:
        raise ProvisioningError("workspace", f"no workspace with the slug {spec.workspace!r}")
    return workspace


def provisioning_plan(
    *,
    workspace: Workspace,
    spec: ProvisioningFile,
    prune: bool,
    lock: bool = False,
    acting_user: Actor = COMMAND,
) -> list[Step]:
    """What applying `spec` would do, item by item; raises ProvisioningError for an item the
    workspace cannot take (load balancing off its plan, an unknown predefined model)."""
    return _Planner(workspace, spec, prune=prune, lock=lock, actor=acting_user).steps()


class _Planner:
    def __init__(
        self, workspace: Workspace, spec: ProvisioningFile, *, prune: bool, lock: bool, actor
    ):
        self.workspace = workspace
        self.actor = actor
        self.spec = spec
        self.prune = prune

        def rows(queryset):
            return queryset.select_for_update() if lock else queryset

        # Secrets are read one by one, only for the credentials the file names (and only to
        # compare): a row that does not decrypt must not stop the plan.
        self.credentials = {
            (c.provider, c.model_name, c.model_type, c.name): c
            for c in rows(Credential.objects.filter(workspace=workspace).defer("secret_data"))
        }
        self.custom_models = {
            (m.provider, m.name, m.type): m
            for m in rows(CustomModel.objects.filter(workspace=workspace))
        }
        self.pools = {
            ModelRef(p.provider, p.model_name, p.model_type, p.custom): p
            for p in rows(Pool.objects.filter(workspace=workspace))
        }
        self.entries: dict[int, list[tuple[int | None, bool]]] = {}
        for pool_id, credential_id, enabled in PoolEntry.objects.filter(
            pool__workspace=workspace
        ).values_list("pool_id", "credential_id", "enabled"):
            self.entries.setdefault(pool_id, []).append((credential_id, enabled))
        self.preferences = {
            p.provider: p for p in rows(ProviderPreference.objects.filter(workspace=workspace))
        }
        self.names_by_id = {c.pk: c.name for c in self.credentials.values()}

    def steps(self) -> list[Step]:
        steps: list[Step] = []
        for section in self.spec.providers:
            if section.preferred is not None:
                steps.append(self.preference(section))
            steps += self.credential_list(section.credentials)
            for model in section.custom_models:
                steps.append(self.custom_model(model))
                steps += self.credential_list(model.credentials)
            steps += [self.pool(pool) for pool in section.pools]
        if self.prune:
            steps += self.deletions()
        return steps

    # -- items --------------------------------------------------------------------------------

    def preference(self, section: ProviderSection) -> Step:
        path = f"{section.path}.preferred"
        current = self.preferences.get(section.provider)
        if current is not None and current.preferred == section.preferred:
            return Step(UNCHANGED, path, section.preferred)

        def write():
            provider_preference_set(
                workspace=self.workspace,
                provider=section.provider,
                preferred=section.preferred,
                acting_user=self.actor,
            )

        action = CREATE if current is None else UPDATE
        return Step(action, path, section.preferred, PHASE_PREFERENCE, write)

    def credential_list(self, listed: CredentialListSpec) -> list[Step]:
        steps = [self.credential(spec) for spec in listed.credentials]
        if listed.credentials:
            steps.append(self.default(listed))
        return steps

    def credential(self, spec: CredentialSpec) -> Step:
        current = self.credentials.get((*spec.scope.fields.values(), spec.name))
        if current is None:
            return Step(
                CREATE,
                spec.path,
                phase=PHASE_CREDENTIAL,
                write=lambda: self.credential_save(spec, None),
                validate=spec,
            )
        changed = _changed_fields(current.config, spec.config)
        moved = kept_secret_moved(
            schema=credential_schema(
                get_provider(spec.scope.provider), custom=bool(spec.scope.model_name)
            ),
            stored_config=current.config,
            values=spec.config,
            kept=[v for v in current.masks if v not in spec.secrets],
            verb="give",
        )
        if moved:
            # Left out, the stored secret would be dropped; the rule is the form's: a new
            # address gets its secrets stated again (as ${ENV_VAR}).
            raise ProvisioningError(spec.path, moved)
        try:
            changed += _changed_fields(current.secrets, spec.secrets)
        except SecretDecryptionError:
            changed += sorted(spec.secrets)  # unreadable now: the file's value replaces it
        if not changed:
            return Step(UNCHANGED, spec.path)
        return Step(
            UPDATE,
            spec.path,
            f"changed: {', '.join(sorted(changed))}",
            PHASE_CREDENTIAL,
            lambda: self.credential_save(spec, current, changed=sorted(changed)),
            spec,
        )

    def default(self, listed: CredentialListSpec) -> Step:
        path = f"{listed.path}.default_credential"
        scope = tuple(listed.scope.fields.values())
        current = next(
            (c.name for key, c in self.credentials.items() if key[:3] == scope and c.is_default),
            None,
        )
        target = listed.default
        if target is None:
            survives = current is not None and (current in listed.names or not self.prune)
            target = current if survives else listed.names[0]
        if target == current:
            return Step(UNCHANGED, path, target)

        def write():
            credential = Credential.objects.defer("secret_data").get(
                workspace=self.workspace, **listed.scope.fields, name=target
            )
            credential_set_default(credential=credential, acting_user=self.actor)

        action = CREATE if current is None else UPDATE
        return Step(action, path, target, PHASE_DEFAULT, write)

    def custom_model(self, spec: CustomModelSpec) -> Step:
        if (spec.provider, spec.name, spec.type) in self.custom_models:
            return Step(UNCHANGED, spec.path)

        def write():
            custom_model_ensure(  # audits "model.add" itself
                workspace=self.workspace,
                provider=spec.provider,
                name=spec.name,
                model_type=spec.type,
                acting_user=self.actor,
            )

        return Step(CREATE, spec.path, phase=PHASE_MODEL, write=write)

    def pool(self, spec: PoolSpec) -> Step:
        try:
            require_load_balancing(self.workspace)
            if not spec.ref.custom:
                model_ref_check(workspace=self.workspace, ref=spec.ref)
        except ApplicationError as exc:
            raise ProvisioningError(spec.path, exc.message) from None
        wanted = [(e.credential, e.enabled) for e in spec.entries]
        detail = _pool_detail(wanted, spec.enabled)
        current = self.pools.get(spec.ref)
        if current is not None:
            entries = [
                (self.names_by_id.get(credential_id) if credential_id else None, enabled)
                for credential_id, enabled in self.entries.get(current.pk, [])
            ]
            if entries == wanted and current.enabled == spec.enabled:
                return Step(UNCHANGED, spec.path, detail)

        def write():
            self.pool_save(spec, created=current is None)

        return Step(CREATE if current is None else UPDATE, spec.path, detail, PHASE_POOL, write)

    def deletions(self) -> list[Step]:
        """Everything of the workspace the file does not list (--prune)."""
        listed_credentials, listed_models, listed_pools = set(), set(), set()
        for section in self.spec.providers:
            lists = [section.credentials] + [m.credentials for m in section.custom_models]
            for listed in lists:
                listed_credentials |= {(*listed.scope.fields.values(), n) for n in listed.names}
            listed_models |= {(m.provider, m.name, m.type) for m in section.custom_models}
            listed_pools |= {p.ref for p in section.pools}
        steps = []
        # A plan without load balancing keeps its pools (as turning balancing off does), so a
        # later move to a paid plan finds them again.
        if self.workspace.load_balancing_allowed:
            for ref, pool in self.pools.items():
                if ref not in listed_pools:
                    path = f"providers.{ref.provider}.load_balancing[{_pool_label(ref)}]"
                    steps.append(
                        Step(
                            DELETE, path, "", PHASE_POOL_DELETE, lambda p=pool: self.pool_delete(p)
                        )
                    )
        for key, model in self.custom_models.items():
            if key not in listed_models:
                steps.append(
                    Step(
                        DELETE,
                        _custom_model_path(*key),
                        "",
                        PHASE_MODEL_DELETE,
                        lambda m=model: self.custom_model_delete(m),
                    )
                )
        for key, credential in self.credentials.items():
            if key not in listed_credentials:
                provider, model_name, model_type, name = key
                parent = (
                    _custom_model_path(provider, model_name, model_type)
                    if model_name
                    else f"providers.{provider}"
                )
                steps.append(
                    Step(
                        DELETE,
                        f"{parent}.credentials[{name}]",
                        "",
                        PHASE_CREDENTIAL_DELETE,
                        lambda c=credential: self.credential_delete(c),
                    )
                )
        return sorted(steps, key=lambda s: s.path)

    # -- writes -------------------------------------------------------------------------------

    def credential_save(
        self, spec: CredentialSpec, current: Credential | None, changed: list[str] = ()
    ) -> None:
        credential_store(
            workspace=self.workspace,
            **spec.scope.fields,
            name=spec.name,
            config=spec.config,
            secrets=spec.secrets,
            credential=current,
            acting_user=self.actor,
            changed=list(changed) or None,
        )

    def pool_save(self, spec: PoolSpec, *, created: bool) -> None:
        by_name = {
            c.name: c
            for c in Credential.objects.filter(
                workspace=self.workspace, provider=spec.ref.provider, **spec.ref.credential_scope
            ).defer("secret_data")
        }
        try:
            pool_configure(
                workspace=self.workspace,
                ref=spec.ref,
                entries=[
                    (by_name[e.credential] if e.credential else None, e.enabled)
                    for e in spec.entries
                ],
                enabled=spec.enabled,
                acting_user=self.actor,
            )
        except ApplicationError as exc:
            raise ProvisioningError(spec.path, exc.message) from None

    def pool_delete(self, pool: Pool) -> None:
        pool_delete(pool=pool, acting_user=self.actor)

    def credential_delete(self, credential: Credential) -> None:
        credential_delete(credential=credential, acting_user=self.actor)

    def custom_model_delete(self, model: CustomModel) -> None:
        custom_model_remove(custom_model=model, acting_user=self.actor)


def _changed_fields(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return [k for k in sorted(set(stored) | set(wanted)) if stored.get(k) != wanted.get(k)]


def _custom_model_path(provider: str, name: str, model_type: str) -> str:
    return f"providers.{provider}.custom_models[{name} ({model_type})]"


def _pool_detail(entries: list[tuple[str | None, bool]], enabled: bool) -> str:
    names = [(name or "Default Config") + ("" if on else " (off)") for name, on in entries]
    return f"{'on' if enabled else 'off'}: {', '.join(names) or 'no entries'}"


# --- applying ----------------------------------------------------------------------------------


def provisioning_apply(
    *,
    workspace: Workspace,
    spec: ProvisioningFile,
    plan: list[Step],
    prune: bool,
    report: Callable[[str], None] = lambda line: None,
    acting_user: Actor = COMMAND,
) -> None:
    """Validate every new or changed credential with its provider, then write the whole plan
    in one transaction; a failure anywhere writes nothing.

    The providers are called outside the transaction (they may take seconds); inside it the
    plan is worked out again under row locks, and if the workspace changed meanwhile nothing
    is written.
    """
    errors = []
    for step in plan:
        if step.validate is None:
            continue
        error = _validate(step.validate)
        if error is None:
            report(f"{'validated':<9} {step.path}")
        else:
            errors.append(f"{step.path}: {error.message}")
    if errors:
        raise ApplicationError("\n".join(errors))

    with transaction.atomic(durable=True):
        Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
        locked = provisioning_plan(
            workspace=workspace, spec=spec, prune=prune, lock=True, acting_user=acting_user
        )
        if [str(s) for s in locked] != [str(s) for s in plan]:
            raise ApplicationError(
                "The workspace changed while the credentials were being validated; nothing "
                "was written. Run the command again."
            )
        for step in sorted(locked, key=lambda s: s.phase):  # sorted() is stable
            if step.write is not None:
                step.write()


def _validate(spec: CredentialSpec) -> ProviderError | None:
    """The check the UI's validation task makes (`pending_validation_run`), run here and now."""
    provider = get_provider(spec.scope.provider)
    try:
        get_adapter(provider).validate(
            {**spec.config, **spec.secrets}, model=spec.scope.model_name or None
        )
    except ProviderError as exc:
        return exc
    except Exception:  # an adapter bug must end as a failure, never as a saved credential
        logger.exception("provisioning: validating %s crashed", spec.path)
        return UpstreamError("unexpected error while validating")
    return None


# --- exporting ---------------------------------------------------------------------------------


def provisioning_export(*, workspace: Workspace) -> str:
    """The workspace's provider configuration as a file `apply_providers` takes back, every
    secret replaced by a `${NAME}` reference (read from the masks: no secret is decrypted)."""
    credentials = list(Credential.objects.filter(workspace=workspace).defer("secret_data"))
    names_by_id = {c.pk: c.name for c in credentials}
    custom_models = list(CustomModel.objects.filter(workspace=workspace))
    pools = list(Pool.objects.filter(workspace=workspace).order_by("model_type", "model_name"))
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
            item: dict[str, Any] = {"name": model.name, "type": model.type}
            scope = Scope(provider.key, model.name, model.type)
            credential_list(provider, scope, _custom_model_path(*scope.fields.values()), item)
            if item.get("credentials"):  # a model without credentials cannot be called
                models.append(item)
        if models:
            section["custom_models"] = models
        balancing = []
        for pool in pools:
            if pool.provider != provider.key or not with_pools:
                continue
            item = {"model": pool.model_name, "type": pool.model_type}
            if pool.custom:
                item["custom"] = True
            item["enabled"] = pool.enabled
            item["entries"] = [
                _entry_out(names_by_id.get(e.credential_id) if e.credential_id else None, e)
                for e in entries.get(pool.pk, [])
            ]
            balancing.append(item)
        if balancing:
            section["load_balancing"] = balancing
        if section:
            providers[provider.key] = section

    body = yaml.safe_dump(
        {"workspace": workspace.slug, "providers": providers},
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
