"""Settings → Model Providers: the provider list and a provider's page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from credentials.selectors import predefined_model_status, summarize
from credentials.services import pending_validations_sweep
from credentials.views import credential_list_context
from workspaces.access import workspace_view

from . import selectors
from .registry import get_provider_or_404
from .schema import MODEL_TYPES


@require_GET
@workspace_view()
def provider_list(request: HttpRequest) -> HttpResponse:
    model_type = request.GET.get("type", "")
    if model_type not in MODEL_TYPES:
        model_type = ""
    query = request.GET.get("q", "")[:100]
    rows = selectors.provider_overview(
        workspace=request.workspace, model_type=model_type, query=query
    )
    context = {
        "configured": [row for row in rows if row.configured],
        "available": [row for row in rows if not row.configured],
        "model_type": model_type,
        "query": query,
        "model_types": selectors.model_type_choices(),
    }
    template = "providers/provider_list.html"
    if request.htmx and request.htmx.target == "provider-grid":
        template += "#provider-grid"
    return render(request, template, context)


@require_GET
@workspace_view()
def provider_detail(request: HttpRequest, provider_key: str) -> HttpResponse:
    provider = get_provider_or_404(provider_key)
    model_type = request.GET.get("type", "")
    if model_type not in provider.model_types:
        model_type = ""
    groups = [
        (type_key, label, [m for m in provider.models if m.type == type_key])
        for type_key, label in provider.model_type_labels
        if not model_type or type_key == model_type
    ]
    # On-read sweep: typed secrets past their time are wiped even without Celery beat.
    pending_validations_sweep()
    credential_context = credential_list_context(request, provider)
    model_status, model_status_label = predefined_model_status(credential_context["credentials"])
    context = {
        **credential_context,
        "row": selectors.ProviderRow(
            provider=provider, credentials=summarize(credential_context["credentials"])
        ),
        "model_status": model_status,
        "model_status_label": model_status_label,
        "groups": groups,
        "model_type": model_type,
        "model_count": len(provider.models),
    }
    template = "providers/provider_detail.html"
    if request.htmx and request.htmx.target in ("model-list", "provider-status"):
        template += f"#{request.htmx.target}"
    return render(request, template, context)
