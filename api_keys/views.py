"""Settings → API keys: every member creates and revokes their own keys; owners and admins
see and revoke every key of the workspace. A new key is shown once."""

from __future__ import annotations

from django import forms
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from workspaces.access import workspace_view
from workspaces.exceptions import ApplicationError, NotAllowed
from workspaces.htmx import HtmxHttpRequest, done, render_page
from workspaces.models import Environment, Role

from . import services
from .models import ApiKey
from .selectors import key_environments


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What will use it, e.g. “support bot (production)”.",
    )
    environment = forms.ModelChoiceField(
        label="Environment",
        queryset=Environment.objects.none(),
        empty_label=None,
        required=False,  # not sent: the workspace's default environment
        help_text="Its calls use this environment's credentials and pools.",
    )

    def __init__(self, *args, workspace, offered: list[Environment], **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["environment"]
        # Any environment of the workspace is read back, so that one not offered to this
        # person gets the service's own refusal (which says who may open it), not a bare
        # "invalid choice"; only those offered are listed.
        field.queryset = Environment.objects.filter(workspace=workspace)
        field.widget.choices = [(e.pk, e.name) for e in offered]
        if offered:
            field.initial = next((e for e in offered if e.is_default), offered[0]).pk
        if len(offered) == 1:  # nothing to choose: it goes where it may
            field.widget = forms.HiddenInput()


def _visible_keys(request: HtmxHttpRequest):
    keys = ApiKey.objects.filter(workspace=request.workspace).select_related(
        "created_by", "environment"
    )
    if not Role(request.membership.role).manages_workspace:
        keys = keys.filter(created_by=request.user)
    return keys


@require_GET
@workspace_view()
def api_key_list(request: HtmxHttpRequest) -> HttpResponse:
    base_url = request.build_absolute_uri("/v1")
    return render_page(
        request,
        "api_keys/api_key_list.html",
        {"keys": _visible_keys(request), "base_url": base_url},
        targets=("api-key-table",),
    )


@require_http_methods(["GET", "POST"])
@workspace_view()
def api_key_create(request: HtmxHttpRequest) -> HttpResponse:
    offered = key_environments(workspace=request.workspace, membership=request.membership)
    form = ApiKeyForm(request.POST or None, workspace=request.workspace, offered=offered)
    if request.method == "POST" and form.is_valid():
        try:
            new = services.api_key_create(
                workspace=request.workspace,
                name=form.cleaned_data["name"],
                acting_user=request.user,
                environment=form.cleaned_data["environment"],
            )
        except NotAllowed as exc:
            form.add_error(None, exc.message)
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            response = render(
                request,
                "api_keys/api_key_created.html",
                {"new": new, "base_url": request.build_absolute_uri("/v1")},
            )
            response["Cache-Control"] = "no-store"  # the only time the key is shown
            return done(
                request,
                f"API key “{new.api_key.name}” created.",
                events=("apiKeysChanged",),
                response=response,
            )
    return render_page(
        request,
        "api_keys/api_key_form.html",
        {"form": form, "offered": offered},
        fragment="api-key-form",
        status=422 if form.errors else 200,
    )


@require_POST
@workspace_view()
def api_key_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    try:
        api_key = get_object_or_404(ApiKey, workspace=request.workspace, pk=int(pk))
    except (TypeError, ValueError):
        raise Http404("No such key.") from None
    try:
        services.api_key_revoke(api_key=api_key, acting_user=request.user)
    except NotAllowed as exc:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(exc.message) from None
    return done(
        request,
        f"API key “{api_key.name}” revoked: requests with it now get 401.",
        events=("apiKeysChanged",),
        redirect_to="api-key-list",
    )
