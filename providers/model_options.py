"""Reads for model pickers: every model a workspace lists, as options grouped by provider,
with the status `provider_models()` computes (so pickers, pages and calls agree on it).

Kept apart from `providers/selectors.py`, which owns the status computation itself: this module
only reshapes its rows for choosing one (ids, grouping, search, the first active model).

A model id is `<provider key>/<model name>`, as the gateway takes it. A custom model whose name
and type are also a predefined model's of the same provider gets `#custom` appended, so the two
stay apart in forms and stored defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from balancing.services import ModelRef
from upstream.registry import catalog, get_provider
from upstream.schema import MODEL_TYPES, ProviderSpec
from upstream.status import ModelStatus
from workspaces.models import Environment, Workspace

from .selectors import ModelRow, provider_models

CUSTOM_SUFFIX = "#custom"


def model_id(*, provider: str, name: str, model_type: str, custom: bool) -> str:
    """The id a picker submits and a default stores for a model."""
    spec = get_provider(provider)
    clashes = custom and spec is not None and _is_predefined(spec, name, model_type)
    return f"{provider}/{name}{CUSTOM_SUFFIX if clashes else ''}"


def _is_predefined(provider: ProviderSpec, name: str, model_type: str) -> bool:
    return any(m.name == name and m.type == model_type for m in provider.models)


@dataclass(frozen=True)
class ModelOption:
    """One model as a picker offers it."""

    provider: ProviderSpec
    row: ModelRow

    @property
    def id(self) -> str:
        return model_id(
            provider=self.provider.key, name=self.name, model_type=self.type, custom=self.custom
        )

    @property
    def gateway_id(self) -> str:
        """The id `invocation.api` resolves: the same, `#custom` included."""
        return self.id

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def label(self) -> str:
        return self.row.label

    @property
    def type(self) -> str:
        return self.row.type

    @property
    def type_label(self) -> str:
        return MODEL_TYPES.get(self.type, self.type)

    @property
    def custom(self) -> bool:
        return self.row.custom is not None

    @property
    def deprecated(self) -> bool:
        return bool(self.row.predefined and self.row.predefined.deprecated)

    @property
    def status(self) -> ModelStatus:
        return self.row.status

    @property
    def usable(self) -> bool:
        return self.row.status.usable

    @property
    def system(self) -> bool:
        """Served by the site operator's credentials, within the plan's quota."""
        return getattr(self.row, "source", "custom") == "system"

    @property
    def load_balancing(self) -> bool:
        return self.row.load_balancing

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.provider.key, self.name, self.type, self.custom)

    @property
    def features(self) -> tuple[str, ...]:
        """What the model can do, in the catalog's words (vision, tool-call...): a custom
        model's own, else the catalog's; the same the gateway checks a call against."""
        if self.row.custom is not None:
            return tuple(self.row.custom.features or ())
        return tuple(self.row.predefined.features) if self.row.predefined else ()

    def matches(self, words: Iterable[str]) -> bool:
        text = " ".join(
            [self.provider.label, self.provider.key, self.name, self.label, self.id]
        ).lower()
        return all(word in text for word in words)


@dataclass(frozen=True)
class ModelGroup:
    """The options of one provider, as an `<optgroup>` holds them."""

    provider: ProviderSpec
    options: tuple[ModelOption, ...]

    @property
    def usable_count(self) -> int:
        return sum(1 for option in self.options if option.usable)


def model_options(
    *, workspace: Workspace, model_type: str | None = None, environment: int | None = None
) -> list[ModelOption]:
    """Every model of the workspace (of `model_type` when given), predefined and custom, usable
    or not, in catalog order; another workspace's custom models never appear. `environment` (an
    id of the workspace's) gives the statuses there, where its pins come first; None: the
    workspace's configuration alone."""
    options = []
    for provider in catalog():
        if model_type and model_type not in provider.model_types:
            continue
        models = provider_models(workspace=workspace, provider=provider, environment=environment)
        for row in [*models.predefined, *models.custom]:
            if not model_type or row.type == model_type:
                options.append(ModelOption(provider=provider, row=row))
    return options


def model_option_find(
    options: Iterable[ModelOption],
    *,
    provider: str,
    name: str,
    model_type: str,
    custom: bool,
) -> ModelOption | None:
    return next(
        (
            o
            for o in options
            if o.provider.key == provider
            and o.name == name
            and o.type == model_type
            and o.custom == custom
        ),
        None,
    )


def model_option_for_id(
    options: Iterable[ModelOption], value: str, *, model_type: str | None = None
) -> ModelOption | None:
    """The option a submitted id names (of `model_type` when given), None when unknown."""
    return next(
        (o for o in options if o.id == value and (not model_type or o.type == model_type)), None
    )


def model_groups(
    options: Iterable[ModelOption], *, query: str = "", keep: str = ""
) -> list[ModelGroup]:
    """Options grouped by provider, providers with a usable model first (catalog order kept
    otherwise). `query` keeps the options whose provider, name or label hold every word;
    the option `keep` names (the current choice) stays whatever the query."""
    words = query.lower().split()
    by_provider: dict[str, list[ModelOption]] = {}
    providers: dict[str, ProviderSpec] = {}
    for option in options:
        if words and option.id != keep and not option.matches(words):
            continue
        by_provider.setdefault(option.provider.key, []).append(option)
        providers[option.provider.key] = option.provider
    groups = [ModelGroup(providers[key], tuple(items)) for key, items in by_provider.items()]
    return sorted(groups, key=lambda group: group.usable_count == 0)


def first_active_option(options: Iterable[ModelOption]) -> ModelOption | None:
    """The model proposed when none is chosen: the first usable one in picker order,
    preferring models that are not deprecated."""
    ordered = [o for group in model_groups(options) for o in group.options if o.usable]
    return next((o for o in ordered if not o.deprecated), ordered[0] if ordered else None)


def environment_for_models(*, workspace: Workspace, environment=None) -> int | None:
    """The id of the environment a model field follows: `environment` (an Environment or an
    id) when it is the workspace's, else the workspace's default one (None without any)."""
    environments = Environment.objects.filter(workspace=workspace)
    if environment is not None:
        pk = getattr(environment, "pk", environment)
        found = environments.filter(pk=pk).values_list("pk", flat=True).first()
        if found is not None:
            return found
    return environments.filter(is_default=True).values_list("pk", flat=True).first()
