"""The provider page's Access card: owners and admins choose system or custom credentials."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from system import services
from upstream.registry import get_provider_or_404
from workspaces.access import workspace_view
from workspaces.exceptions import ApplicationError
from workspaces.htmx import HtmxHttpRequest, done

from .selectors import provider_models


@require_POST
@workspace_view("admin")
def provider_preference(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    provider = get_provider_or_404(provider_key)
    try:
        services.provider_preference_set(
            workspace=request.workspace,
            provider=provider.key,
            preferred=request.POST.get("preferred", ""),
            acting_user=request.user,
        )
    except ApplicationError as exc:
        message, level = exc.message, "danger"
    else:
        message, level = "Preference saved.", "success"
    if not request.htmx:
        return redirect("provider-detail", provider.key)
    system = provider_models(workspace=request.workspace, provider=provider).system
    if system is None:  # the operator withdrew the system provider meanwhile
        return done(request, message, level, response=HttpResponse(""))
    response = render(
        request,
        "providers/provider_access.html",
        {"system": system, "provider": provider, "can_manage": True},
    )
    trigger_client_event(response, "credentialsChanged", after="swap")
    return done(request, message, level, response=response)
