"""Config → Load balancing: a model's pool (entries, shares, the switch) and its live state.

The model is named in the query string (`?model=<name>&type=<type>[&custom=1][&env=<id>]`)
because model names may hold slashes; `env` names an environment of the workspace, whose own
pool for the model the page shows (without it, the workspace's pool). Members see the pool
read-only; owners and admins change it. Every change answers with `poolChanged`, which
refreshes the page's fragments.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from credentials.models import Credential, CustomModel
from upstream.registry import get_provider_or_404
from upstream.schema import ProviderSpec
from workspaces.access import manager_view, workspace_view
from workspaces.exceptions import ApplicationError
from workspaces.htmx import HtmxHttpRequest, done, render_page
from workspaces.models import Environment

from . import selectors, services
from .runtime import routing_mode
from .services import ModelRef

DEFAULT_CONFIG = "default"
MAX_REPEAT = 10


def _ref(request: HtmxHttpRequest, provider: ProviderSpec) -> ModelRef:
    data = request.POST if "model" in request.POST else request.GET
    env = (data.get("env") or "").strip()
    if env and not env.isdigit():
        raise Http404("No such environment.")
    ref = ModelRef(
        provider=provider.key,
        name=(data.get("model") or "").strip()[:200],
        type=(data.get("type") or "").strip()[:30],
        custom=data.get("custom") in ("1", "true", "on"),
        environment=int(env) if env else None,
    )
    try:
        return services.model_ref_check(workspace=request.workspace, ref=ref)
    except ApplicationError as exc:
        raise Http404(exc.message) from None


def _pool_url(ref: ModelRef) -> str:
    return f"{reverse('pool-detail', args=[ref.provider])}?{ref.query}"


def _pool_ref(pool) -> ModelRef:
    """The ref naming an entry's pool (the workspace's, or an environment's own)."""
    return ModelRef(
        pool.provider, pool.model_name, pool.model_type, pool.custom, pool.environment_id
    )


def _environment(request: HtmxHttpRequest, ref: ModelRef) -> Environment | None:
    """The environment whose own pool the page shows (`_ref` checked it is the workspace's)."""
    if not ref.environment:
        return None
    return Environment.objects.get(workspace=request.workspace, pk=ref.environment)


def _outcome(
    request: HtmxHttpRequest, ref: ModelRef, message: str, level: str = "success"
) -> HttpResponse:
    """A change refreshes the pool's sections and closes the dialog; a refusal only says why."""
    changed = level != "danger"
    return done(
        request,
        message,
        level,
        events=("poolChanged", "modelsChanged") if changed else (),
        close_modal=changed,
        redirect_to=_pool_url(ref),
    )


@require_GET
@workspace_view()
def pool_detail(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    provider = get_provider_or_404(provider_key)
    ref = _ref(request, provider)
    view = selectors.pool_view(workspace=request.workspace, ref=ref)
    context = {
        "provider": provider,
        "ref": ref,
        "view": view,
        "live": selectors.pool_live(view),
        "routing_mode": routing_mode(),
        "pool_url": _pool_url(ref),
        "custom_model": _custom_model(request, ref),
        "environment": _environment(request, ref),
    }
    return render_page(
        request,
        "balancing/pool_detail.html",
        context,
        targets=("pool-entries", "pool-live", "pool-header"),
    )


def _custom_model(request: HtmxHttpRequest, ref: ModelRef):
    if not ref.custom:
        return None
    return CustomModel.objects.filter(
        workspace=request.workspace, provider=ref.provider, name=ref.name, type=ref.type
    ).first()


@require_GET
@manager_view
def pool_state(request: HtmxHttpRequest, provider_key: str) -> JsonResponse:
    """The live pool view as JSON, for monitoring."""
    provider = get_provider_or_404(provider_key)
    ref = _ref(request, provider)
    view = selectors.pool_view(workspace=request.workspace, ref=ref)
    return JsonResponse(
        {
            "provider": ref.provider,
            "model": ref.name,
            "type": ref.type,
            "custom": ref.custom,
            "environment": ref.environment,
            "enabled": view.enabled,
            "active": view.active,
            "allowed": view.allowed,
            "warning": view.warning or None,
            "routing": routing_mode(),
            "entries": [
                {
                    "position": row.entry.position,
                    "default_config": row.is_default_config,
                    "credential_id": row.credential.pk if row.credential else None,
                    "credential": row.credential.name if row.credential else None,
                    "enabled": row.entry.enabled,
                }
                for row in view.entries
            ],
            "credentials": [row.as_dict() for row in selectors.pool_live(view)],
        }
    )


@require_POST
@manager_view
def pool_switch(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    """Turn load balancing on (two enabled entries needed) or off (the pool is kept)."""
    provider = get_provider_or_404(provider_key)
    ref = _ref(request, provider)
    enabled = request.POST.get("enabled") == "true"
    try:
        services.pool_set_enabled(
            workspace=request.workspace, ref=ref, enabled=enabled, acting_user=request.user
        )
    except ApplicationError as exc:
        return _outcome(request, ref, exc.message, "danger")
    if enabled:
        return _outcome(request, ref, f"Load balancing is on for {ref.name}.")
    return _outcome(
        request, ref, f"Load balancing is off for {ref.name}: its default credential serves."
    )


class EntryForm(forms.Form):
    entry = forms.ChoiceField(label="Credential", widget=forms.RadioSelect)
    count = forms.IntegerField(
        label="Times to add",
        min_value=1,
        max_value=MAX_REPEAT,
        initial=1,
        help_text="A credential added twice gets twice the share of traffic.",
    )

    def __init__(self, *args, view: selectors.PoolView, **kwargs):
        super().__init__(*args, **kwargs)
        default = view.default.name if view.default else "no default credential now"
        choices = [(DEFAULT_CONFIG, f"Default Config (whatever the default is: {default})")]
        for credential in view.scope_credentials:
            masks = " ".join(credential.masks.values())
            status = " — failing" if credential.status == "failing" else ""
            choices.append((str(credential.pk), f"{credential.name} {masks}{status}".strip()))
        self.fields["entry"].choices = choices
        self.credentials = {str(c.pk): c for c in view.scope_credentials}

    def chosen_credential(self) -> Credential | None:
        value = self.cleaned_data["entry"]
        return None if value == DEFAULT_CONFIG else self.credentials[value]


@require_http_methods(["GET", "POST"])
@manager_view
def pool_entry_create(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    """Add credential: an existing credential of the model's scope, the Default Config, or a
    new credential (the credential form, which joins the pool once validated)."""
    provider = get_provider_or_404(provider_key)
    ref = _ref(request, provider)
    view = selectors.pool_view(workspace=request.workspace, ref=ref)
    form = EntryForm(request.POST or None, view=view, initial={"count": 1})
    if request.method == "POST" and form.is_valid():
        credential = form.chosen_credential()
        try:
            for _ in range(form.cleaned_data["count"]):
                services.pool_entry_add(
                    workspace=request.workspace,
                    ref=ref,
                    credential=credential,
                    acting_user=request.user,
                )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            name = credential.name if credential else "Default Config"
            times = form.cleaned_data["count"]
            added = f"{name} added" + (f" {times} times" if times > 1 else "")
            return _outcome(request, ref, f"{added} to the pool of {ref.name}.")
    new_url = reverse(
        "custom-model-create" if ref.custom else "credential-create", args=[provider.key]
    )
    lb = {"lb_model": ref.name, "lb_type": ref.type}
    if ref.custom:
        lb |= {"lb_custom": "1", "model": ref.name, "type": ref.type}
    if ref.environment:
        lb["lb_env"] = str(ref.environment)
    return render_page(
        request,
        "balancing/pool_entry_form.html",
        {
            "provider": provider,
            "ref": ref,
            "view": view,
            "form": form,
            "pool_url": _pool_url(ref),
            "new_credential_url": f"{new_url}?{urlencode(lb)}",
        },
        fragment="entry-form",
        status=422 if form.errors else 200,
    )


@require_POST
@manager_view
def pool_entry_update(request: HtmxHttpRequest, provider_key: str, pk: int) -> HttpResponse:
    """Enable or disable an entry (`enabled=true|false`), or move it (`move=up|down`)."""
    provider = get_provider_or_404(provider_key)
    entry = selectors.pool_entry_get_or_404(
        workspace=request.workspace, provider=provider.key, pk=pk
    )
    ref = _pool_ref(entry.pool)
    move = request.POST.get("move")
    try:
        if move in ("up", "down"):
            services.pool_entry_move(
                entry=entry, offset=-1 if move == "up" else 1, acting_user=request.user
            )
            return _outcome(request, ref, f"{entry} moved {move}.")
        if request.POST.get("enabled") not in ("true", "false"):
            return _outcome(request, ref, "Nothing to change.", "danger")
        enabled = request.POST["enabled"] == "true"
        services.pool_entry_set_enabled(entry=entry, enabled=enabled, acting_user=request.user)
    except ApplicationError as exc:
        return _outcome(request, ref, exc.message, "danger")
    return _outcome(request, ref, f"{entry} {'enabled' if enabled else 'disabled'}.")


@require_POST
@manager_view
def pool_entry_delete(request: HtmxHttpRequest, provider_key: str, pk: int) -> HttpResponse:
    provider = get_provider_or_404(provider_key)
    entry = selectors.pool_entry_get_or_404(
        workspace=request.workspace, provider=provider.key, pk=pk
    )
    ref = _pool_ref(entry.pool)
    try:
        services.pool_entry_remove(entry=entry, acting_user=request.user)
    except ApplicationError as exc:
        return _outcome(request, ref, exc.message, "danger")
    return _outcome(request, ref, f"{entry} removed from the pool.")
