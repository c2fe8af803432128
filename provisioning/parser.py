"""Reading a provisioning file into plain data: the YAML format (a workspace's provider
preferences, credentials with secrets from `${VAR}` environment references, custom models, default
credentials and load-balancing pools; its environments with their pins and own pools), every value
checked against the catalog. The first problem
raises `ProvisioningError`, named by the item's path in the file. Reads no database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from balancing.models import MAX_ENTRIES
from balancing.services import MIN_ENTRIES, ModelRef
from credentials.services import clean_model_name, clean_name, credential_schema
from system.models import Preferred
from upstream.forms import CredentialValuesInvalid, clean_credential_values
from upstream.registry import catalog, get_provider
from upstream.schema import MODEL_FEATURES, CredentialSchema, ProviderSpec
from workspaces.exceptions import ApplicationError

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_CONFIG = "default"  # a pool entry naming the Default Config


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
    features: tuple[str, ...] | None = None  # None: not in the file (the type's defaults)


@dataclass(frozen=True)
class PoolEntrySpec:
    credential: str | None  # None: the Default Config
    enabled: bool = True


@dataclass(frozen=True)
class PoolSpec:
    path: str
    ref: ModelRef  # its `environment` is None: the file names environments, not ids
    enabled: bool
    entries: tuple[PoolEntrySpec, ...]
    environment: str | None = None  # an environment's own pool: that environment's name


@dataclass(frozen=True)
class ProviderSection:
    path: str
    provider: str
    preferred: str | None
    credentials: CredentialListSpec
    custom_models: tuple[CustomModelSpec, ...]
    pools: tuple[PoolSpec, ...]


@dataclass(frozen=True)
class PinSpec:
    """An environment's pin: `credential` for the provider's predefined models (`ref` None) or
    for one model."""

    path: str
    provider: str
    ref: ModelRef | None
    credential: str

    @property
    def key(self) -> tuple[str, str, str, bool]:
        if self.ref is None:
            return (self.provider, "", "", False)
        return (self.provider, self.ref.name, self.ref.type, self.ref.custom)


@dataclass(frozen=True)
class EnvironmentSpec:
    path: str
    name: str
    default: bool  # `default: true`: the workspace's default environment, whatever its name now
    members_create_keys: bool | None  # None: not in the file (left as it is; off for a new one)
    pins: tuple[PinSpec, ...]
    pools: tuple[PoolSpec, ...]


@dataclass(frozen=True)
class ProvisioningFile:
    workspace: str
    providers: tuple[ProviderSection, ...]
    # None: the file has no `environments:` key, and applying it leaves environments, pins and
    # environments' pools alone (even with --prune).
    environments: tuple[EnvironmentSpec, ...] | None = None


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
    _mapping(data, "", allowed={"workspace", "providers", "environments"}, required={"workspace"})
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
    sections = tuple(reader.section(key, providers[key]) for key in providers)
    environments = None
    if "environments" in data:
        environments = reader.environments(data, {s.provider: s for s in sections})
    return ProvisioningFile(workspace=workspace, providers=sections, environments=environments)


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
        pools = self.pools(
            _items(data, "load_balancing", path),
            f"{path}.load_balancing",
            provider,
            credentials,
            custom_models,
        )
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
                allowed={"name", "type", "credentials", "default_credential", "features"},
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
            features = self.features(item, item_path)
            models.append(
                CustomModelSpec(item_path, provider.key, name, model_type, credentials, features)
            )
        return tuple(models)

    @staticmethod
    def features(item: dict, path: str) -> tuple[str, ...] | None:
        """A custom model's `features`: the catalog's words (None when the key is absent)."""
        if "features" not in item:
            return None
        values = _items(item, "features", path)
        for index, value in enumerate(values):
            if value not in MODEL_FEATURES:
                raise ProvisioningError(
                    f"{path}.features[{index}]",
                    f"{str(value)[:50]!r} is not a feature (features: {', '.join(MODEL_FEATURES)})",
                )
        return tuple(f for f in MODEL_FEATURES if f in values)

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
        items: list,
        path: str,
        provider: ProviderSpec,
        credentials: CredentialListSpec,
        custom_models: tuple[CustomModelSpec, ...],
        environment: str | None = None,
    ) -> tuple[PoolSpec, ...]:
        """The pools of a `load_balancing` list at `path` (a provider section's, or an
        environment's for this provider)."""
        pools: list[PoolSpec] = []
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]"
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
            item_path = f"{path}[{pool_label(ref)}]"
            if any(p.ref == ref for p in pools):
                raise ProvisioningError(item_path, "is listed twice")
            if ref.custom:
                model = next(
                    (m for m in custom_models if (m.name, m.type) == (ref.name, ref.type)), None
                )
                if model is None:
                    raise ProvisioningError(
                        f"{item_path}.model",
                        f"{ref.name} ({ref.type}) is not one of "
                        f"providers.{provider.key}.custom_models",
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
            pools.append(PoolSpec(item_path, ref, enabled, entries, environment))
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

    # -- environments -------------------------------------------------------------------------

    def environments(
        self, data: dict, sections: dict[str, ProviderSection]
    ) -> tuple[EnvironmentSpec, ...]:
        """The `environments` list. A pin or an environment's pool names credentials the way a
        workspace pool does: those listed under `providers` for its provider (or custom model)."""
        environments: list[EnvironmentSpec] = []
        for index, item in enumerate(_items(data, "environments", "")):
            item_path = f"environments[{index}]"
            _mapping(
                item,
                item_path,
                allowed={"name", "default", "members_create_keys", "pins", "load_balancing"},
                required={"name"},
            )
            name = environment_name(item["name"], f"{item_path}.name")
            item_path = f"environments[{name}]"
            if any(e.name.casefold() == name.casefold() for e in environments):
                raise ProvisioningError(item_path, "is listed twice (names ignore case)")
            default = _flag(item, "default", item_path, default=False)
            if default and any(e.default for e in environments):
                raise ProvisioningError(
                    f"{item_path}.default", "only one environment can be the default"
                )
            members_create_keys = None
            if "members_create_keys" in item:
                members_create_keys = _flag(item, "members_create_keys", item_path)
            pins = self.pins(item, item_path, sections)
            pools = self.environment_pools(item, item_path, name, sections)
            environments.append(
                EnvironmentSpec(item_path, name, default, members_create_keys, pins, pools)
            )
        return tuple(environments)

    def pins(
        self, item: dict, path: str, sections: dict[str, ProviderSection]
    ) -> tuple[PinSpec, ...]:
        pins: list[PinSpec] = []
        for index, pin in enumerate(_items(item, "pins", path)):
            pin_path = f"{path}.pins[{index}]"
            _mapping(
                pin,
                pin_path,
                allowed={"provider", "model", "type", "custom", "credential"},
                required={"provider", "credential"},
            )
            provider = self.provider(pin["provider"], f"{pin_path}.provider")
            ref = None
            if pin.get("model") is not None:
                ref = ModelRef(
                    provider=provider.key,
                    name=_text(pin, "model", pin_path),
                    type=self.model_type(pin, pin_path, provider),
                    custom=_flag(pin, "custom", pin_path, default=False),
                )
            elif "type" in pin or "custom" in pin:
                raise ProvisioningError(
                    f"{pin_path}.model",
                    "is required with `type` or `custom` (without a model, the pin is the "
                    "provider's: leave out `type` and `custom`)",
                )
            pin_path = f"{path}.pins[{pin_label(provider.key, ref)}]"
            scope = self.scope(sections, provider.key, ref, pin_path)
            name = _name(pin["credential"], f"{pin_path}.credential")
            if name not in scope.names:
                raise ProvisioningError(
                    f"{pin_path}.credential", _not_in_scope(name, scope, sections)
                )
            spec = PinSpec(pin_path, provider.key, ref, name)
            if any(p.key == spec.key for p in pins):
                raise ProvisioningError(pin_path, "is listed twice")
            pins.append(spec)
        return tuple(pins)

    def environment_pools(
        self, item: dict, path: str, name: str, sections: dict[str, ProviderSection]
    ) -> tuple[PoolSpec, ...]:
        """`load_balancing: {provider: [pool, ...]}`: each pool as a provider section's."""
        pools_path = f"{path}.load_balancing"
        by_provider = item.get("load_balancing") or {}
        _mapping(by_provider, pools_path, allowed=set(by_provider))
        pools: list[PoolSpec] = []
        for key, items in by_provider.items():
            provider = self.provider(key, _join(pools_path, str(key)))
            section = sections.get(provider.key)
            if not isinstance(items, list):
                raise ProvisioningError(
                    _join(pools_path, key), f"must be a list, not {_kind(items)}"
                )
            pools += self.pools(
                items,
                _join(pools_path, key),
                provider,
                section.credentials if section else _no_credentials(provider.key),
                section.custom_models if section else (),
                environment=name,
            )
        return tuple(pools)

    @staticmethod
    def provider(key: Any, path: str) -> ProviderSpec:
        known = [p.key for p in catalog()]
        if key not in known:
            raise ProvisioningError(
                path,
                f"unknown provider {str(key)[:50]!r} (the catalog has: {', '.join(known)})",
            )
        return get_provider(key)

    @staticmethod
    def scope(
        sections: dict[str, ProviderSection], provider: str, ref: ModelRef | None, path: str
    ) -> CredentialListSpec:
        """The credentials a pin of `ref` may name: the provider's, or the custom model's."""
        section = sections.get(provider)
        if ref is None or not ref.custom:
            return section.credentials if section else _no_credentials(provider)
        model = next(
            (
                m
                for m in (section.custom_models if section else ())
                if (m.name, m.type) == (ref.name, ref.type)
            ),
            None,
        )
        if model is None:
            raise ProvisioningError(
                f"{path}.model",
                f"{ref.name} ({ref.type}) is not one of providers.{provider}.custom_models",
            )
        return model.credentials


def _no_credentials(provider: str) -> CredentialListSpec:
    return CredentialListSpec(f"providers.{provider}", Scope(provider), (), None)


def _not_in_scope(name: str, scope: CredentialListSpec, sections: dict[str, ProviderSection]):
    """Why a pin cannot name `name`, saying where the file lists it if it does."""
    elsewhere = [
        listed.path
        for section in sections.values()
        for listed in (section.credentials, *(m.credentials for m in section.custom_models))
        if name in listed.names and listed.path != scope.path
    ]
    reason = f"no credential named {name!r} in {scope.path}.credentials"
    if elsewhere:
        reason += (
            f"; {name!r} is a credential of {elsewhere[0]}, and a pin names a credential of its "
            "own provider (or custom model)"
        )
    return reason


def environment_name(value: Any, path: str) -> str:
    """The name as the environment service keeps it: spaces collapsed, at most 60 characters."""
    if not isinstance(value, str):
        raise ProvisioningError(path, "must be text")
    name = " ".join(value.split())
    if not name:
        raise ProvisioningError(path, "must not be empty")
    if len(name) > 60 or any(ord(c) < 32 for c in name):
        raise ProvisioningError(path, "must be at most 60 characters, without control characters")
    return name


def pin_label(provider: str, ref: ModelRef | None) -> str:
    """ "openai" (a provider pin), "openai/gpt-4o (llm)", "openai/my-ft (llm, custom)"."""
    if ref is None:
        return provider
    return f"{provider}/{pool_label(ref)}"


def pool_label(ref: ModelRef) -> str:
    return f"{ref.name} ({ref.type}{', custom' if ref.custom else ''})"


def custom_model_path(provider: str, name: str, model_type: str) -> str:
    return f"providers.{provider}.custom_models[{name} ({model_type})]"
