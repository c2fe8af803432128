"""The model field: a form field listing a workspace's models grouped by provider, with each
model's status and the load-balancing icon, to choose one model of a type.

    class PromptForm(WorkspaceForm):
        model = ModelField(model_type="llm", label="Model")

    form = PromptForm(request.POST or None, workspace=request.workspace)
    form.is_valid() and form.cleaned_data["model"]  # "openai/gpt-4o-mini"

A model's status is the one it has in an environment of the workspace: `environment=` (on the
field, or on `WorkspaceForm` for all its fields), by default the workspace's default one. A
model that only an environment's pin serves is usable there and nowhere else.

The widget is a radio group styled as a list (native keyboard handling: Tab into the group,
arrow keys between models; works without JavaScript), one group per provider, with a search box
that re-renders the list through `model-field-search` (HTMX). Unusable models are listed but
disabled, with the reason; validation refuses them and unknown ids with a message saying why.

The widget renders with the project's template engine (not the form renderer's) so it can use
the partials and tags every page uses; its list is the partial the search endpoint returns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django import forms
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from upstream.schema import MODEL_TYPES
from workspaces.models import Workspace

from .model_options import (
    ModelOption,
    environment_for_models,
    model_groups,
    model_option_for_id,
    model_options,
)

TEMPLATE = "providers/widgets/model_picker.html"
SAFE_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")


def picker_context(
    *,
    options: Sequence[ModelOption],
    name: str,
    value: str,
    dom_id: str,
    model_type: str | None,
    label: str = "",
    query: str = "",
    required: bool = False,
    disabled: bool = False,
    invalid: bool = False,
    describedby: str = "",
    environment: int | None = None,
) -> dict:
    """What the widget's template needs; the search endpoint builds the same for its list."""
    # Usable models first; the others (and why) behind "Show unavailable (N)". The chosen
    # model stays in view whatever its state.
    groups, unavailable_groups = [], []
    count = unavailable_count = 0
    for group_index, group in enumerate(model_groups(options, query=query, keep=value)):
        entries, hidden = [], []
        for option in group.options:
            checked = option.id == value
            entry = {"option": option, "dom_id": f"{dom_id}-{count}", "checked": checked}
            (entries if option.usable or checked else hidden).append(entry)
            count += 1
        if entries:
            groups.append(
                {
                    "provider": group.provider,
                    "dom_id": f"{dom_id}-g{group_index}",
                    "entries": entries,
                }
            )
        if hidden:
            unavailable_count += len(hidden)
            unavailable_groups.append(
                {
                    "provider": group.provider,
                    "dom_id": f"{dom_id}-u{group_index}",
                    "entries": hidden,
                }
            )
    selected = model_option_for_id(options, value) if value else None
    return {
        "name": name,
        "value": value,
        "dom_id": dom_id,
        "label": label,
        "model_type": model_type or "",
        "type_label": MODEL_TYPES.get(model_type or "", ""),
        "groups": groups,
        "unavailable_groups": unavailable_groups,
        "unavailable_count": unavailable_count,
        "count": count,
        "query": query,
        "selected": selected,
        "required": required,
        "disabled": disabled,
        "invalid": invalid,
        "describedby": describedby,
        "search_url": reverse("model-field-search"),
        "environment": environment or "",  # the search lists the statuses in the same one
        "has_models": bool(options),
        # A list with nothing to choose still scrolls: it takes the focus itself, so a keyboard
        # can scroll it (axe: scrollable-region-focusable).
        "choosable": not disabled
        and any(entry["option"].usable for group in groups for entry in group["entries"]),
    }


class ModelPicker(forms.Widget):
    """The model field's widget; it reads the options from its field (`self.field`)."""

    template_name = TEMPLATE

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.field: ModelField | None = None

    def id_for_label(self, id_: str) -> str:
        # The visible <label> names the search box; the radio group carries the same words.
        return f"{id_}-search" if id_ else ""

    def value_from_datadict(self, data, files, name):
        return data.get(name)

    def value_omitted_from_data(self, data, files, name):
        return name not in data

    def format_value(self, value) -> str:
        return "" if value is None else str(value)

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        attrs = self.build_attrs(self.attrs, attrs)
        field = self.field
        dom_id = attrs.get("id") or f"id_{name}"
        context = picker_context(
            options=field.options if field else [],
            name=name,
            value=self.format_value(value),
            dom_id=dom_id,
            model_type=field.model_type if field else None,
            label=str(field.label or "") if field else "",
            required=bool(field and field.required),
            disabled=bool(field and field.disabled),
            invalid="is-invalid" in attrs.get("class", ""),
            describedby=attrs.get("aria-describedby", ""),
            environment=field.environment_id if field else None,
        )
        return mark_safe(render_to_string(self.template_name, context))  # noqa: S308 - escaped


class ModelSelect(ModelPicker):
    """The compact form of the model field (Default models, after Dify's System Model
    Settings): one <select>, usable models first grouped by provider, then the others, disabled,
    under "Unavailable (N)". The chosen model is kept whatever its state."""

    template_name = "providers/widgets/model_select.html"

    def id_for_label(self, id_: str) -> str:
        return id_

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        attrs = self.build_attrs(self.attrs, attrs)
        field = self.field
        value = self.format_value(value)
        usable: dict[str, list] = {}
        unavailable = []
        for option in field.options if field else []:
            if option.usable or option.id == value:
                usable.setdefault(option.provider.label, []).append(option)
            else:
                unavailable.append(option)
        context = {
            "name": name,
            "value": value,
            "dom_id": attrs.get("id") or f"id_{name}",
            "describedby": attrs.get("aria-describedby", ""),
            "invalid": "is-invalid" in attrs.get("class", ""),
            "disabled": bool(field and field.disabled),
            "usable": list(usable.items()),
            "unavailable": unavailable,
            "type_label": MODEL_TYPES.get(field.model_type or "", "") if field else "",
        }
        return mark_safe(render_to_string(self.template_name, context))  # noqa: S308 - escaped


class ModelField(forms.Field):
    """A model of the workspace, as its id ("provider/model"). `model_type` limits the list to
    one type ("llm", "text-embedding"...); `workspace` may be given here or by `WorkspaceForm`;
    `environment` (an Environment or its id; None: the default one) is where the statuses
    are judged.
    """

    widget = ModelPicker
    default_error_messages = {
        "required": "Choose a model.",
        "unknown": "%(value)s is not one of this workspace's %(type)smodels. Choose one from the "
        "list.",
        "unusable": "%(value)s cannot be used: %(status)s. %(reason)s",
    }

    def __init__(
        self,
        *,
        workspace: Workspace | None = None,
        model_type: str | None = None,
        options: Sequence[ModelOption] | None = None,
        environment=None,
        **kwargs,
    ):
        if model_type is not None and model_type not in MODEL_TYPES:
            raise ValueError(f"Unknown model type {model_type!r}: one of {', '.join(MODEL_TYPES)}")
        self.model_type = model_type
        self._workspace = workspace
        self._environment = environment
        self._environment_id: int | None = None  # resolved with the options
        self._options = None if options is None else self._of_type(options)
        super().__init__(**kwargs)
        self.widget.field = self

    def __deepcopy__(self, memo):
        result = super().__deepcopy__(memo)  # the widget is copied shallowly, options shared
        result.widget.field = result
        return result

    def _of_type(self, options: Sequence[ModelOption]) -> list[ModelOption]:
        return [o for o in options if not self.model_type or o.type == self.model_type]

    @property
    def workspace(self) -> Workspace | None:
        return self._workspace

    @workspace.setter
    def workspace(self, workspace: Workspace | None) -> None:
        # Options given without a workspace are that workspace's; another one's are dropped.
        if self._workspace is not None and workspace != self._workspace:
            self._options = None
        self._workspace = workspace

    @property
    def environment(self):
        return self._environment

    @environment.setter
    def environment(self, environment) -> None:
        if getattr(environment, "pk", environment) != getattr(
            self._environment, "pk", self._environment
        ):
            self._options = None  # read again, with that environment's statuses
        self._environment = environment

    @property
    def environment_id(self) -> int | None:
        """The environment the options were judged in (the default one unless given)."""
        self.options  # noqa: B018 - resolves it
        return self._environment_id

    def use_options(self, options: Sequence[ModelOption], environment_id: int | None = None):
        """Share options already read (a form with several model fields reads them once)."""
        self._options = self._of_type(options)
        self._environment_id = environment_id

    @property
    def options(self) -> list[ModelOption]:
        if self._options is None:
            if self._workspace is None:
                raise RuntimeError("ModelField needs a workspace: ModelField(workspace=...).")
            self._environment_id = environment_for_models(
                workspace=self._workspace, environment=self._environment
            )
            self._options = model_options(
                workspace=self._workspace,
                model_type=self.model_type,
                environment=self._environment_id,
            )
        return self._options

    def to_python(self, value) -> str:
        return "" if value in self.empty_values else str(value).strip()

    def option(self, value: str) -> ModelOption | None:
        """The option an id names, None when the workspace has no such model."""
        return model_option_for_id(self.options, value) if value else None

    def validate(self, value: str) -> None:
        super().validate(value)
        if not value:
            return
        option = self.option(value)
        if option is None:
            raise forms.ValidationError(
                self.error_messages["unknown"],
                code="unknown",
                params={
                    "value": value[:250],
                    "type": f"{MODEL_TYPES[self.model_type]} " if self.model_type else "",
                },
            )
        if not option.usable:
            raise forms.ValidationError(
                self.error_messages["unusable"],
                code="unusable",
                params={
                    "value": option.id,
                    "status": option.status.label.lower(),
                    "reason": option.status.reason,
                },
            )


class WorkspaceForm(forms.Form):
    """A form whose model fields list `workspace`'s models, read once for all of them, with
    their statuses in `environment` (None: the default one)."""

    def __init__(self, *args, workspace: Workspace, environment=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        model_fields = [f for f in self.fields.values() if isinstance(f, ModelField)]
        types = {f.model_type for f in model_fields}
        shared = environment_id = None
        if len(model_fields) > 1:
            environment_id = environment_for_models(workspace=workspace, environment=environment)
            shared = model_options(
                workspace=workspace,
                model_type=types.pop() if len(types) == 1 else None,
                environment=environment_id,
            )
        for field in model_fields:
            field.workspace = workspace
            if environment is not None:
                field.environment = environment
            if shared is not None:
                field.use_options(shared, environment_id)
