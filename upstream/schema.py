"""The provider catalog's data types and the parser that turns one catalog file into them.

The parser is strict: an unknown key, a wrong type or a dangling reference is a `CatalogError`
naming the file and the field path (`credential_schema[1].show_on[0].variable`), which
`manage.py check` reports at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MODEL_TYPES: dict[str, str] = {
    "llm": "LLM",
    "text-embedding": "Text embedding",
    "rerank": "Rerank",
    "speech2text": "Speech to text",
    "tts": "Text to speech",
    "moderation": "Moderation",
    "image": "Image",
}
FIELD_TYPES = ("secret", "text", "url", "select", "switch", "number")
# What a model can do; the gateway refuses a request using a feature its model lacks (issue 21).
# structured-output: a JSON schema in `response_format` is enforced, not only JSON.
MODEL_FEATURES = (
    "vision",
    "tool-call",
    "json-mode",
    "structured-output",
    "streaming",
    "reasoning",
    "audio",
    "document",
)
VALIDATION_METHODS = ("list_models", "retrieve_model", "account", "completion")
COLORS = (
    "blue",
    "azure",
    "indigo",
    "purple",
    "pink",
    "red",
    "orange",
    "yellow",
    "lime",
    "green",
    "teal",
    "cyan",
    "dark",
)

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
VARIABLE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
ADDRESS_NAME = re.compile(r"(url|endpoint|host)$")


class CatalogError(Exception):
    """A malformed catalog entry; the message names the file and the field."""

    def __init__(self, source: str, path: str, message: str):
        self.source = source
        self.path = path
        self.message = message
        super().__init__(f"{source}: {path}: {message}" if path else f"{source}: {message}")


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class ShowOn:
    """Show a field only while another field of the same schema has this value."""

    variable: str
    value: str


@dataclass(frozen=True)
class SchemaField:
    variable: str
    label: str
    type: str
    required: bool = False
    default: Any = None
    options: tuple[Option, ...] = ()
    placeholder: str = ""
    help: str = ""
    show_on: tuple[ShowOn, ...] = ()
    max_length: int = 2000

    @property
    def is_secret(self) -> bool:
        return self.type == "secret"


@dataclass(frozen=True)
class CredentialSchema:
    fields: tuple[SchemaField, ...]

    @property
    def secret_variables(self) -> tuple[str, ...]:
        return tuple(f.variable for f in self.fields if f.is_secret)

    @property
    def address_variables(self) -> tuple[str, ...]:
        """The fields that say where requests (and so the secrets) go: every `url` field.
        A field that changes the destination host must be typed `url` for this to hold; the
        catalog check refuses a `*url` or `*endpoint` field of another type."""
        return tuple(f.variable for f in self.fields if f.type == "url")

    def get(self, variable: str) -> SchemaField | None:
        return next((f for f in self.fields if f.variable == variable), None)


@dataclass(frozen=True)
class PredefinedModel:
    name: str
    type: str
    label: str
    context_size: int | None = None
    features: tuple[str, ...] = ()
    deprecated: bool = False

    @property
    def type_label(self) -> str:
        return MODEL_TYPES[self.type]


@dataclass(frozen=True)
class ProviderSpec:
    key: str
    label: str
    description: str
    model_types: tuple[str, ...]
    credential_schema: CredentialSchema
    custom_model_schema: CredentialSchema | None
    models: tuple[PredefinedModel, ...]
    adapter: str
    validation: str
    can_list_models: bool
    color: str = "blue"
    help_url: str = ""
    # Add Model's help for the model's name, in this provider's words.
    model_name_help: str = ""
    position: int = 1000
    source: str = field(default="", compare=False)

    @property
    def initials(self) -> str:
        words = re.findall(r"[A-Za-z0-9]+", self.label)
        if len(words) >= 2:
            return (words[0][0] + words[1][0]).upper()
        return self.label[:2].upper()

    @property
    def supports_custom_models(self) -> bool:
        return self.custom_model_schema is not None

    @property
    def custom_only(self) -> bool:
        """No predefined models (OpenAI-compatible, Ollama, Azure OpenAI): a credential alone
        gives no model, so Add Model is what the provider's page leads with."""
        return self.supports_custom_models and not self.models

    @property
    def model_type_labels(self) -> list[tuple[str, str]]:
        return [(t, MODEL_TYPES[t]) for t in self.model_types]

    def models_by_type(self) -> list[tuple[str, list[PredefinedModel]]]:
        return [
            (MODEL_TYPES[t], [m for m in self.models if m.type == t])
            for t in self.model_types
            if any(m.type == t for m in self.models)
        ]


class _Reader:
    """Walks one mapping of a catalog file, remembering the path for error messages."""

    def __init__(self, source: str, data: Any, path: str = ""):
        self.source = source
        self.data = data
        self.path = path

    def fail(self, message: str, path: str | None = None) -> CatalogError:
        return CatalogError(self.source, self.path if path is None else path, message)

    def child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def expect_mapping(self, allowed: set[str], required: set[str]) -> None:
        if not isinstance(self.data, dict):
            raise self.fail(f"must be a mapping, not {type(self.data).__name__}")
        unknown = sorted(set(map(str, self.data)) - allowed)
        if unknown:
            raise self.fail(f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        missing = sorted(required - set(self.data))
        if missing:
            raise self.fail(f"missing required key {missing[0]!r}")

    def value(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        # YAML booleans are ints in Python; never accept one where a number or text is meant.
        if isinstance(value, bool) and kind is not bool and bool not in _as_tuple(kind):
            raise self.fail(f"must be {_kind_name(kind)}, not a boolean", self.child_path(key))
        if not isinstance(value, kind):
            raise self.fail(
                f"must be {_kind_name(kind)}, not {type(value).__name__}", self.child_path(key)
            )
        return value

    def text(self, key: str, default: str = "", *, pattern: re.Pattern | None = None) -> str:
        value = self.value(key, str, default)
        if key in self.data and not value.strip():
            raise self.fail("must not be empty", self.child_path(key))
        if pattern is not None and key in self.data and not pattern.match(value):
            raise self.fail(f"{value!r} does not match {pattern.pattern}", self.child_path(key))
        return value

    def choice(self, key: str, choices: tuple[str, ...] | dict, default: str | None = None) -> str:
        value = self.value(key, str, default)
        if value not in choices:
            raise self.fail(f"{value!r} is not one of {', '.join(choices)}", self.child_path(key))
        return value

    def items(self, key: str) -> list[_Reader]:
        value = self.value(key, list, [])
        return [
            _Reader(self.source, item, f"{self.child_path(key)}[{i}]")
            for i, item in enumerate(value)
        ]


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "text",
        int: "an integer",
        bool: "true or false",
        list: "a list",
        dict: "a mapping",
        float: "a number",
    }
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


_FIELD_KEYS = {
    "variable",
    "label",
    "type",
    "required",
    "default",
    "options",
    "placeholder",
    "help",
    "show_on",
    "max_length",
}


def _parse_field(reader: _Reader) -> SchemaField:
    reader.expect_mapping(_FIELD_KEYS, {"variable", "label", "type"})
    field_type = reader.choice("type", FIELD_TYPES)
    variable = reader.data.get("variable")
    if isinstance(variable, str) and ADDRESS_NAME.search(variable) and field_type != "url":
        # Secrets kept on an edit are sent only to an unchanged address (address_variables).
        raise reader.fail(
            f"{variable!r} names an address: its type must be url", reader.child_path("type")
        )
    options = []
    for option_reader in reader.items("options"):
        option_reader.expect_mapping({"value", "label"}, {"value", "label"})
        options.append(
            Option(
                value=str(option_reader.value("value", (str, int, float))),
                label=option_reader.text("label"),
            )
        )
    if field_type == "select" and not options:
        raise reader.fail("a select field needs options", reader.child_path("options"))
    if field_type != "select" and options:
        raise reader.fail("only select fields take options", reader.child_path("options"))
    if len({o.value for o in options}) != len(options):
        raise reader.fail("option values must be unique", reader.child_path("options"))

    default = reader.data.get("default")
    if default is not None:
        if field_type == "secret":
            raise reader.fail("a secret field cannot have a default", reader.child_path("default"))
        if field_type == "switch" and not isinstance(default, bool):
            raise reader.fail("must be true or false", reader.child_path("default"))
        if field_type == "number" and (
            isinstance(default, bool) or not isinstance(default, (int, float))
        ):
            raise reader.fail("must be a number", reader.child_path("default"))
        if field_type in {"text", "url", "select"} and not isinstance(default, str):
            raise reader.fail("must be text", reader.child_path("default"))
        if field_type == "select" and default not in {o.value for o in options}:
            raise reader.fail(
                f"{default!r} is not one of the options", reader.child_path("default")
            )
        if field_type == "url" and not re.match(r"^https?://[^\s/]+", default):
            raise reader.fail("must be an http(s) URL", reader.child_path("default"))

    show_on = []
    for show_reader in reader.items("show_on"):
        show_reader.expect_mapping({"variable", "value"}, {"variable", "value"})
        raw = show_reader.data["value"]
        value = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
        show_on.append(ShowOn(variable=show_reader.text("variable"), value=value))

    max_length = reader.value("max_length", int, 2000)
    if not 1 <= max_length <= 100_000:
        raise reader.fail("must be between 1 and 100000", reader.child_path("max_length"))

    return SchemaField(
        variable=reader.text("variable", pattern=VARIABLE_PATTERN),
        label=reader.text("label"),
        type=field_type,
        required=reader.value("required", bool, False),
        default=default,
        options=tuple(options),
        placeholder=reader.value("placeholder", str, ""),
        help=reader.value("help", str, ""),
        show_on=tuple(show_on),
        max_length=max_length,
    )


def _parse_schema(reader: _Reader, key: str) -> CredentialSchema:
    field_readers = reader.items(key)
    if not field_readers:
        raise reader.fail("must list at least one field", reader.child_path(key))
    fields = tuple(_parse_field(r) for r in field_readers)
    seen: set[str] = set()
    for index, schema_field in enumerate(fields):
        if schema_field.variable in seen:
            raise reader.fail(
                f"duplicate variable {schema_field.variable!r}",
                f"{reader.child_path(key)}[{index}].variable",
            )
        seen.add(schema_field.variable)
    by_variable = {f.variable: f for f in fields}
    for index, schema_field in enumerate(fields):
        for cond_index, condition in enumerate(schema_field.show_on):
            path = f"{reader.child_path(key)}[{index}].show_on[{cond_index}]"
            target = by_variable.get(condition.variable)
            if target is None or target is schema_field:
                raise reader.fail(
                    f"refers to unknown field {condition.variable!r}", f"{path}.variable"
                )
            if target.type == "select" and condition.value not in {o.value for o in target.options}:
                raise reader.fail(
                    f"{condition.value!r} is not an option of {condition.variable!r}",
                    f"{path}.value",
                )
            if target.type == "switch" and condition.value not in {"true", "false"}:
                raise reader.fail("a switch is true or false", f"{path}.value")
    return CredentialSchema(fields=fields)


_MODEL_KEYS = {"name", "type", "label", "context_size", "features", "deprecated"}


def _parse_model(reader: _Reader, model_types: tuple[str, ...]) -> PredefinedModel:
    reader.expect_mapping(_MODEL_KEYS, {"name", "type"})
    model_type = reader.choice("type", MODEL_TYPES)
    if model_type not in model_types:
        raise reader.fail(
            f"type {model_type!r} is not among the provider's model_types",
            reader.child_path("type"),
        )
    features = reader.value("features", list, [])
    for index, feature in enumerate(features):
        if feature not in MODEL_FEATURES:
            raise reader.fail(
                f"{feature!r} is not one of {', '.join(MODEL_FEATURES)}",
                f"{reader.child_path('features')}[{index}]",
            )
    context_size = reader.value("context_size", int)
    if context_size is not None and context_size <= 0:
        raise reader.fail("must be a positive integer", reader.child_path("context_size"))
    name = reader.text("name")
    if len(name) > 200 or any(c.isspace() for c in name):
        raise reader.fail(
            "must be at most 200 characters without spaces", reader.child_path("name")
        )
    return PredefinedModel(
        name=name,
        type=model_type,
        label=reader.text("label", name),
        context_size=context_size,
        features=tuple(features),
        deprecated=reader.value("deprecated", bool, False),
    )


_PROVIDER_KEYS = {
    "key",
    "label",
    "description",
    "model_types",
    "credential_schema",
    "custom_model_schema",
    "models",
    "adapter",
    "validation",
    "can_list_models",
    "color",
    "help_url",
    "model_name_help",
    "position",
}


def parse_provider(data: Any, *, source: str) -> ProviderSpec:
    """Parse one catalog file's content; raise CatalogError on anything malformed."""
    reader = _Reader(source, data)
    reader.expect_mapping(
        _PROVIDER_KEYS,
        {"key", "label", "model_types", "credential_schema", "adapter", "validation"},
    )
    model_types = reader.value("model_types", list)
    if not model_types:
        raise reader.fail("must list at least one model type", "model_types")
    for index, model_type in enumerate(model_types):
        if model_type not in MODEL_TYPES:
            raise reader.fail(
                f"{model_type!r} is not one of {', '.join(MODEL_TYPES)}", f"model_types[{index}]"
            )
    model_types = tuple(model_types)

    models = tuple(_parse_model(r, model_types) for r in reader.items("models"))
    seen: set[tuple[str, str]] = set()
    for index, model in enumerate(models):
        if (model.name, model.type) in seen:
            raise reader.fail(
                f"duplicate model {model.name!r} of type {model.type!r}", f"models[{index}].name"
            )
        seen.add((model.name, model.type))

    custom_model_schema = None
    if reader.data.get("custom_model_schema") is not None:
        custom_model_schema = _parse_schema(reader, "custom_model_schema")

    return ProviderSpec(
        key=reader.text("key", pattern=KEY_PATTERN),
        label=reader.text("label"),
        description=reader.value("description", str, ""),
        model_types=model_types,
        credential_schema=_parse_schema(reader, "credential_schema"),
        custom_model_schema=custom_model_schema,
        models=models,
        adapter=reader.text("adapter", pattern=KEY_PATTERN),
        validation=reader.choice("validation", VALIDATION_METHODS),
        can_list_models=reader.value("can_list_models", bool, False),
        color=reader.choice("color", COLORS, "blue"),
        help_url=reader.value("help_url", str, ""),
        model_name_help=reader.value("model_name_help", str, ""),
        position=reader.value("position", int, 1000),
        source=source,
    )
