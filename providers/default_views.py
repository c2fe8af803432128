"""Settings → Default models: one model per model type. Every member reads them; owners and
admins choose them with the model field. A type without a default shows the first active model
as a proposal, stored only when Save is pressed."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.views.decorators.http import require_http_methods

from upstream.schema import MODEL_TYPES
from workspaces.access import workspace_view
from workspaces.exceptions import ApplicationError
from workspaces.htmx import HtmxHttpRequest, done, render_page
from workspaces.models import Role

from . import defaults
from .fields import ModelField, ModelSelect
from .model_options import ModelOption, model_options

TEMPLATE = "providers/default_models.html"
FRAGMENT = "default-models"


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
                widget=ModelSelect,
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
    # A save answers with the section it was posted from, which also holds the form.
    return render_page(
        request,
        TEMPLATE,
        {"rows": rows, "form": form},
        fragment=FRAGMENT if request.method == "POST" else None,
        targets=(FRAGMENT,),
        status=status,
    )


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
            message, level = exc.message, "danger"
        else:
            label = _field_label(model_type)
            message = f"{label} cleared." if cleared else f"{label} was not set."
            level = "success"
    else:
        options = model_options(workspace=request.workspace)
        choices = defaults.default_models_for(workspace=request.workspace, options=options)
        form = DefaultModelsForm(
            request.POST, workspace=request.workspace, choices=choices, options=options
        )
        if not form.is_valid():
            return _page(request, form=form, status=422)
        try:
            changed = defaults.default_models_save(
                workspace=request.workspace,
                choices=form.cleaned_data,
                acting_user=request.user,
            )
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return _page(request, form=form, status=422)
        if changed:
            message = f"Default models saved ({', '.join(MODEL_TYPES[t] for t in changed)})."
        else:
            message = "Nothing changed: the default models are as they were."
        level = "success"
    # With HTMX the section comes back up to date; a plain form post is redirected to it.
    page = _page(request) if request.htmx else None
    return done(request, message, level, response=page, redirect_to="default-models")
