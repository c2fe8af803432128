"""Settings → API keys: every member creates and revokes their own keys; owners and admins
see and revoke every key of the workspace. A new key is shown once."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from workspaces.access import workspace_view
from workspaces.exceptions import ApplicationError, NotAllowed
from workspaces.models import Role
from workspaces.toasts import toast

from . import services
from .models import ApiKey


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What will use it, e.g. “support bot (production)”.",
    )


def _visible_keys(request: HttpRequest):
    keys = ApiKey.objects.filter(workspace=request.workspace).select_related("created_by")
    if not Role(request.membership.role).manages_workspace:
        keys = keys.filter(created_by=request.user)
    return keys


@require_GET
@workspace_view()
def api_key_list(request: HttpRequest) -> HttpResponse:
    template = "api_keys/api_key_list.html"
    if request.htmx and request.htmx.target == "api-key-table":
        template += "#api-key-table"
    base_url = request.build_absolute_uri("/v1")
    return render(request, template, {"keys": _visible_keys(request), "base_url": base_url})


@require_http_methods(["GET", "POST"])
@workspace_view()
def api_key_create(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new = services.api_key_create(
                workspace=request.workspace,
                name=form.cleaned_data["name"],
                acting_user=request.user,
            )
        except ApplicationError as exc:
            form.add_error("name" if exc.field == "name" else None, exc.message)
        else:
            response = render(
                request,
                "api_keys/api_key_created.html",
                {"new": new, "base_url": request.build_absolute_uri("/v1")},
            )
            response["Cache-Control"] = "no-store"  # the only time the key is shown
            trigger_client_event(response, "apiKeysChanged")
            return toast(response, f"API key “{new.api_key.name}” created.")
    template = "api_keys/api_key_form.html"
    if request.htmx:
        template += "#api-key-form"
    return render(request, template, {"form": form}, status=422 if form.errors else 200)


@require_POST
@workspace_view()
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        api_key = get_object_or_404(ApiKey, workspace=request.workspace, pk=int(pk))
    except (TypeError, ValueError):
        raise Http404("No such key.") from None
    try:
        services.api_key_revoke(api_key=api_key, acting_user=request.user)
    except NotAllowed as exc:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(exc.message) from None
    message = f"API key “{api_key.name}” revoked: requests with it now get 401."
    if not request.htmx:
        messages.success(request, message)
        return redirect("api-key-list")
    response = HttpResponse(status=204)
    trigger_client_event(response, "apiKeysChanged")
    return toast(response, message)
