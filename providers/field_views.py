"""The model field's search endpoint: the widget's list, filtered by the words typed in its
search box (HTMX; the full list works without it)."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from upstream.schema import MODEL_TYPES
from workspaces.access import workspace_view
from workspaces.htmx import HtmxHttpRequest

from .fields import SAFE_NAME, TEMPLATE, picker_context
from .model_options import environment_for_models, model_options


@require_GET
@workspace_view()
def model_field_search(request: HtmxHttpRequest) -> HttpResponse:
    """`field`, `id`, `type`, `label`, `required` describe the widget; `<field>-q` holds the
    search words; the current choice comes under the field's name (or `initial`) and stays
    listed whatever the search. `environment` (an id) is where the statuses are judged: the
    workspace's default one when absent or not the workspace's."""
    name = request.GET.get("field") or "model"
    dom_id = request.GET.get("id") or f"id_{name}"
    model_type = request.GET.get("type") or None
    if not SAFE_NAME.match(name) or not SAFE_NAME.match(dom_id):
        return HttpResponseBadRequest("Bad field name or id.")
    if model_type is not None and model_type not in MODEL_TYPES:
        return HttpResponseBadRequest("Unknown model type.")
    value = (request.GET.get(name) or request.GET.get("initial") or "")[:300]
    environment = request.GET.get("environment", "")
    environment_id = environment_for_models(
        workspace=request.workspace,
        environment=int(environment) if environment.isdigit() and len(environment) < 19 else None,
    )
    context = picker_context(
        options=model_options(
            workspace=request.workspace, model_type=model_type, environment=environment_id
        ),
        environment=environment_id,
        name=name,
        value=value,
        dom_id=dom_id,
        model_type=model_type,
        label=request.GET.get("label", "")[:100],
        query=request.GET.get(f"{name}-q", "")[:100],
        required=request.GET.get("required") == "1",
    )
    return render(request, f"{TEMPLATE}#model-options", {**context, "searched": True})
