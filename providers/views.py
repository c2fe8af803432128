"""Settings → Model Providers: the provider list and a provider's page."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from credentials.forms import FEATURE_LABELS, CustomModelFeaturesForm
from credentials.selectors import (
    credential_choices,
    credential_get_or_404,
    credential_list,
    summarize,
)
from credentials.services import custom_model_set_features, pending_validations_sweep
from upstream.registry import get_provider_or_404
from upstream.schema import MODEL_TYPES
from workspaces.access import manager_view, workspace_view
from workspaces.exceptions import ApplicationError
from workspaces.htmx import HtmxHttpRequest, done, render_page

from . import selectors, services
from .credential_views import credential_list_context
from .models import ModelRefresh


@require_GET
@workspace_view()
def provider_list(request: HtmxHttpRequest) -> HttpResponse:
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
    return render_page(request, "providers/provider_list.html", context, targets=("provider-grid",))


@require_GET
@workspace_view()
def provider_detail(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    provider = get_provider_or_404(provider_key)
    model_type = request.GET.get("type", "")
    if model_type not in provider.model_types:
        model_type = ""
    if not request.htmx:
        # On-read sweep, once per page load (not per fragment refresh): typed secrets past
        # their time are wiped even without Celery beat.
        pending_validations_sweep()
    credential_context = credential_list_context(request, provider)
    models = selectors.provider_models(workspace=request.workspace, provider=provider)
    groups = [
        (type_key, label, [row for row in models.predefined if row.type == type_key])
        for type_key, label in provider.model_type_labels
        if not model_type or type_key == model_type
    ]
    context = {
        **credential_context,
        "row": selectors.ProviderRow(
            provider=provider,
            credentials=summarize(credential_context["credentials"]),
            system=models.system,
        ),
        "groups": groups,
        "custom_models": models.custom,
        "removed_models": models.removed,
        "system": models.system,
        "model_type": model_type,
        "model_count": len(provider.models),
    }
    return render_page(
        request,
        "providers/provider_detail.html",
        context,
        targets=("model-list", "provider-status", "custom-models"),
    )


@require_GET
@workspace_view()
def custom_model_detail(request: HtmxHttpRequest, provider_key: str, pk: int) -> HttpResponse:
    """A custom model's page: its status and its own credentials."""
    provider = get_provider_or_404(provider_key)
    model = selectors.custom_model_get_or_404(
        workspace=request.workspace, provider=provider.key, pk=pk
    )
    context = credential_list_context(request, provider, model)
    context["row"] = selectors.custom_model_row(
        workspace=request.workspace, model=model, credentials=context["credentials"]
    )
    context["feature_labels"] = [FEATURE_LABELS.get(f, f) for f in model.features or ()]
    return render_page(
        request,
        "providers/custom_model_detail.html",
        context,
        targets=("model-status", "model-features"),
    )


@require_http_methods(["GET", "POST"])
@manager_view
def custom_model_update(request: HtmxHttpRequest, provider_key: str, pk: int) -> HttpResponse:
    """Edit a custom model's features: what the gateway lets a chat ask of it."""
    provider = get_provider_or_404(provider_key)
    model = selectors.custom_model_get_or_404(
        workspace=request.workspace, provider=provider.key, pk=pk
    )
    form = CustomModelFeaturesForm(request.POST or None, initial={"features": model.features})
    if request.method == "POST" and form.is_valid():
        try:
            custom_model_set_features(
                custom_model=model, features=form.cleaned_data["features"], acting_user=request.user
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            if not request.htmx:
                return redirect("custom-model-detail", provider.key, model.pk)
            return done(
                request,
                f"Features of {model.name} saved.",
                events=("modelsChanged",),
                close_modal=True,
                response=HttpResponse(),
            )
    return render_page(
        request,
        "providers/custom_model_form.html",
        {"provider": provider, "model": model, "form": form},
        fragment="features-form",
        status=422 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@manager_view
def custom_model_delete(request: HtmxHttpRequest, provider_key: str, pk: int) -> HttpResponse:
    """Remove a custom model; its credentials stay for a quick re-add."""
    provider = get_provider_or_404(provider_key)
    model = selectors.custom_model_get_or_404(
        workspace=request.workspace, provider=provider.key, pk=pk
    )
    if request.method == "GET":
        return render_page(
            request,
            "providers/custom_model_confirm_delete.html",
            {"provider": provider, "model": model},
            fragment="confirm",
        )
    services.custom_model_remove(custom_model=model, acting_user=request.user)
    if not request.htmx:
        return redirect("provider-detail", provider.key)
    return done(
        request,
        f"{model.name} removed; its credentials are kept.",
        events=("modelsChanged",),
        close_modal=True,
        response=HttpResponseClientRedirect(reverse("provider-detail", args=[provider.key])),
    )


@require_POST
@manager_view
def custom_model_readd(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    """Re-add a removed custom model with one of its remaining credentials."""
    provider = get_provider_or_404(provider_key)
    credential = credential_get_or_404(
        workspace=request.workspace, provider=provider.key, pk=request.POST.get("credential", 0)
    )
    try:
        model = services.custom_model_readd(
            workspace=request.workspace, credential=credential, acting_user=request.user
        )
    except ApplicationError as exc:
        message, level = exc.message, "danger"
    else:
        # The chosen credential becomes the default only if the model had none left.
        default = next(
            (
                c
                for c in credential_list(
                    workspace=request.workspace,
                    provider=provider.key,
                    model_name=model.name,
                    model_type=model.type,
                )
                if c.is_default
            ),
            credential,
        )
        message, level = f"{model.name} is back, using {default.name}.", "success"
    if not request.htmx:
        return redirect("provider-detail", provider.key)
    return done(
        request,
        message,
        level,
        events=("modelsChanged",),
        close_modal=True,
        response=HttpResponse(),
    )


@require_POST
@manager_view
def model_toggle(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    """Enable or disable a model (predefined or custom) for the workspace."""
    provider = get_provider_or_404(provider_key)
    enabled = request.POST.get("enabled") == "true"
    name, model_type = request.POST.get("model_name", ""), request.POST.get("model_type", "")
    try:
        services.model_set_enabled(
            workspace=request.workspace,
            provider_key=provider.key,
            model_name=name,
            model_type=model_type,
            enabled=enabled,
            acting_user=request.user,
        )
    except ApplicationError as exc:
        message, level = exc.message, "danger"
    else:
        verb = "enabled" if enabled else "disabled: it is hidden from model selection"
        message, level = f"{name} {verb}.", "success"
    if not request.htmx:
        return redirect("provider-detail", provider.key)
    # credentialsChanged: the model page's status too.
    events = ("modelsChanged", "credentialsChanged")
    return done(request, message, level, events=events, close_modal=True)


@require_GET
@workspace_view()
def custom_credential_list(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    """Manage Credentials: every custom-model credential, grouped by model, removed or not."""
    provider = get_provider_or_404(provider_key)
    models = selectors.provider_models(workspace=request.workspace, provider=provider)
    groups = [(row.name, row.type, row.custom, row.credentials) for row in models.custom]
    groups += [(r.name, r.type, None, r.credentials) for r in models.removed]
    context = {"provider": provider, "groups": groups}
    return render_page(
        request, "providers/custom_credential_list.html", context, targets=("custom-credentials",)
    )


@require_http_methods(["GET", "POST"])
@manager_view
def model_refresh(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    """Refresh models: ask the provider which models one credential can reach."""
    provider = get_provider_or_404(provider_key)
    if not provider.can_list_models:
        raise Http404(f"{provider.label} cannot list its models.")
    credentials = credential_choices(workspace=request.workspace, provider=provider.key)
    error = ""
    if request.method == "POST":
        credential = next(
            (c for c in credentials if str(c.pk) == request.POST.get("credential")), None
        )
        if credential is None:
            error = "Choose one of this provider's credentials."
        else:
            refresh = services.model_refresh_request(
                credential=credential, acting_user=request.user
            )
            return _refresh_outcome(request, provider, refresh)
    return render_page(
        request,
        "providers/model_refresh.html",
        {"provider": provider, "credentials": credentials, "error": error},
        fragment="refresh-form",
        status=422 if error else 200,
    )


@require_GET
@manager_view
def model_refresh_detail(request: HtmxHttpRequest, provider_key: str, pk) -> HttpResponse:
    """Polled while the provider is asked: 204, then the results (286 stops the polling)."""
    provider = get_provider_or_404(provider_key)
    refresh = get_object_or_404(
        ModelRefresh, workspace=request.workspace, provider=provider.key, pk=pk
    )
    refresh = services.model_refresh_expire_if_overdue(refresh=refresh)
    if not refresh.is_finished:
        return HttpResponse(status=204)
    response = _refresh_outcome(request, provider, refresh)
    response.status_code = HttpResponseStopPolling.status_code
    return response


def _refresh_outcome(request: HtmxHttpRequest, provider, refresh) -> HttpResponse:
    context = {"provider": provider, "refresh": refresh}
    if refresh.is_finished and not refresh.error_code:
        context["results"] = selectors.refresh_results(
            workspace=request.workspace, provider=provider, refresh=refresh
        )
    return render(request, "providers/model_refresh_result.html", context)
