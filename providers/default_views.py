"""Settings → Default models: one model per model type. Every member reads them; owners and
admins choose them with the model field. A type without a default shows the first active model
as a proposal, stored only when Save is pressed."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_htmx.middleware import HtmxDetails

from upstream.schema import MODEL_TYPES
from workspaces.access import workspace_view
from workspaces.exceptions import ApplicationError
from workspaces.models import Role
from workspaces.toasts import toast

from . import defaults
from .fields import ModelField
from .model_options import ModelOption, model_options

TEMPLATE = "providers/default_models.html"
FRAGMENT = "default-models"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _field_label(model_type: str) -> str:
    label = MODEL_TYPES[model_type]
    return f"Default {label if label.isupper() else label.lower()} model"


class DefaultModelsForm(forms.Form):
    """One optional model field per model type; an empty one leaves that default as it is."""

    def __init__(
        self,
        *args,
        workspace,
        choices: dict[str, defaults.DefaultChoice],
        options: list[ModelOption],
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        for model_type, choice in choices.items():
            self.fields[model_type] = ModelField(
                workspace=workspace,
                model_type=model_type,
                options=options,
                label=_field_label(model_type),
                required=False,
                initial=choice.initial,
            )


def _page(request: HtmxHttpRequest, *, form=None, status: int = 200) -> HttpResponse:
    options = model_options(workspace=request.workspace)
    choices = defaults.default_models_for(workspace=request.workspace, options=options)
    manages = Role(request.membership.role).manages_workspace
    if manages and form is None:
        form = DefaultModelsForm(workspace=request.workspace, choices=choices, options=options)
    rows = [
        {"choice": choice, "field": form[model_type] if form is not None else None}
        for model_type, choice in choices.items()
    ]
    template = TEMPLATE
    if request.htmx and (request.method == "POST" or request.htmx.target == FRAGMENT):
        template += f"#{FRAGMENT}"
    return render(request, template, {"rows": rows, "form": form}, status=status)


def _done(request: HtmxHttpRequest, message: str, level: str = "success") -> HttpResponse:
    if not request.htmx:
        messages.add_message(
            request, messages.ERROR if level == "danger" else messages.SUCCESS, message
        )
        return redirect("default-models")
    return toast(_page(request), message, level)


@require_http_methods(["GET", "POST"])
@workspace_view()
def default_models(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    if not Role(request.membership.role).manages_workspace:
        raise PermissionDenied("Only the owner or an admin can change default models.")
    if "clear" in request.POST:
        model_type = request.POST["clear"]
        try:
            cleared = defaults.default_model_clear(
                workspace=request.workspace, model_type=model_type, acting_user=request.user
            )
        except ApplicationError as exc:
            return _done(request, exc.message, "danger")
        label = _field_label(model_type)
        return _done(request, f"{label} cleared." if cleared else f"{label} was not set.")

    options = model_options(workspace=request.workspace)
    choices = defaults.default_models_for(workspace=request.workspace, options=options)
    form = DefaultModelsForm(
        request.POST, workspace=request.workspace, choices=choices, options=options
    )
    if form.is_valid():
        try:
            changed = defaults.default_models_save(
                workspace=request.workspace,
                choices=form.cleaned_data,
                acting_user=request.user,
            )
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if not changed:
                return _done(request, "Nothing changed: the default models are as they were.")
            names = ", ".join(MODEL_TYPES[t] for t in changed)
            return _done(request, f"Default models saved ({names}).")
    return _page(request, form=form, status=422)
