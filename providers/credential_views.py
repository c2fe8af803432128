"""Credential actions on a provider's page: add, edit, delete, select as default, check.

Writes become pending validations; the page polls `validation-detail` until the provider's
verdict arrives (immediately in embedded mode, where the task runs in-process).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from balancing.selectors import credential_pins, credential_pins_by_id, credential_pool_usage
from balancing.services import pool_target_check
from credentials import selectors, services
from credentials.forms import NEW_CREDENTIAL, credential_form_class, custom_model_form_class
from credentials.models import Credential, PendingValidation, ValidationKind, ValidationStatus
from upstream.registry import get_provider_or_404
from upstream.schema import ProviderSpec
from workspaces.access import manager_view, workspace_view
from workspaces.exceptions import ApplicationError
from workspaces.htmx import HtmxHttpRequest, done, render_page, toast

from .selectors import custom_model_get_or_404, provider_models


def _kept_secret_placeholders(
    provider: ProviderSpec, credential: Credential | None, retrying: bool, custom: bool = False
) -> dict[str, str]:
    if credential is not None:
        custom = bool(credential.model_name)
    schema = services.credential_schema(provider, custom=custom)
    if credential is not None:
        return {
            variable: f"{credential.masks.get(variable, '…')} — leave empty to keep"
            for variable in schema.secret_variables
            if variable in credential.masks
        }
    if retrying:
        return {v: "Leave empty to reuse what you typed" for v in schema.secret_variables}
    return {}


def _form_page(
    request: HtmxHttpRequest,
    *,
    provider: ProviderSpec,
    form,
    credential: Credential | None = None,
    pending: PendingValidation | None = None,
    custom: bool = False,
    status: int = 200,
    add_to_pool: dict | None = None,
) -> HttpResponse:
    if credential:
        action = reverse("credential-update", args=[provider.key, credential.pk])
    elif custom:
        action = reverse("custom-model-create", args=[provider.key])
    else:
        action = reverse("credential-create", args=[provider.key])
    if add_to_pool and not credential:
        action += "?" + _pool_query(add_to_pool)
    context = {
        "provider": provider,
        "form": form,
        "credential": credential,
        "failed": pending,
        "custom": custom,
        "action": action,
        "add_to_pool": add_to_pool if not credential else None,
    }
    if custom and credential is None and not add_to_pool:
        context["removed_models"] = provider_models(
            workspace=request.workspace, provider=provider
        ).removed
    if "credential" in form.fields:
        # Choosing a credential reloads the form with its address and its key's mask; only
        # the model's fields go along (never a typed secret in a URL).
        form.fields["credential"].widget.attrs.update(
            {
                "hx-get": action,
                "hx-trigger": "change",
                "hx-target": "closest form",
                "hx-swap": "outerHTML",
                "hx-include": "[name=model_name],[name=model_type],[name=features]",
            }
        )
    return render_page(
        request,
        "credentials/credential_form.html",
        context,
        fragment="credential-form",
        status=status,
    )


def _pool_query(target: dict) -> str:
    params = {"lb_model": target["model"], "lb_type": target["type"]}
    if target.get("custom"):
        params["lb_custom"] = "1"
    if target.get("env"):
        params["lb_env"] = str(target["env"])
    return urlencode(params)


def _pool_target(request: HtmxHttpRequest) -> dict | None:
    """Load balancing → Add credential → new: the pool the new credential will join."""
    if not request.GET.get("lb_model"):
        return None
    return {
        "model": request.GET["lb_model"][:200],
        "type": request.GET.get("lb_type", "")[:30],
        "custom": request.GET.get("lb_custom") == "1",
        # An environment's own pool (pool_target_check refuses another workspace's).
        "env": int(env) if (env := request.GET.get("lb_env", "")).isdigit() else None,
    }


def _validation_outcome(
    request: HtmxHttpRequest, pending: PendingValidation, *, polling: bool = False
) -> HttpResponse:
    """What the modal shows once a create/edit validation has finished (or right away)."""
    provider = get_provider_or_404(pending.provider)
    if not pending.is_finished:
        return render(
            request,
            "credentials/validation_progress.html",
            {"pending": pending, "provider": provider},
        )
    if pending.status == ValidationStatus.SUCCEEDED:
        credential = selectors.credential_of(pending)
        response = HttpResponseStopPolling() if polling else HttpResponse()
        response.content = render(
            request, "credentials/validation_success.html", {"credential": credential}
        ).content
        default_note = " It is the default." if credential and credential.is_default else ""
        warning = f" {pending.warning}" if pending.warning else ""
        return done(
            request,
            f"{pending.name} validated and saved.{default_note}{warning}",
            "warning" if warning else "success",
            events=("credentialsChanged",),
            close_modal=True,
            response=response,
        )

    credential = selectors.credential_of(pending) if pending.kind == ValidationKind.UPDATE else None
    retrying = bool(pending.secret_payload) and credential is None
    custom = bool(pending.model_name) and credential is None
    if custom:
        form_class = custom_model_form_class(
            provider,
            credentials=selectors.credential_choices(
                workspace=request.workspace, provider=provider.key
            ),
        )
    else:
        form_class = credential_form_class(
            services.credential_schema(provider, custom=bool(pending.model_name))
        )
    form = form_class(
        initial={
            **pending.config,
            "name": pending.name,
            "model_name": pending.model_name,
            "model_type": pending.model_type,
            **({"features": pending.model_features} if pending.model_features is not None else {}),
        },
        kept_secrets=_kept_secret_placeholders(provider, credential, retrying, custom=custom),
    )
    response = _form_page(
        request,
        provider=provider,
        form=form,
        credential=credential,
        pending=pending,
        custom=custom,
        add_to_pool=pending.add_to_pool,
    )
    if polling:
        response.status_code = HttpResponseStopPolling.status_code
    return toast(response, pending.error_message, "danger")


@require_http_methods(["GET", "POST"])
@manager_view
def credential_create(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    """Add credential (provider scope)."""
    return _create(request, provider_key, custom=False)


@require_http_methods(["GET", "POST"])
@manager_view
def custom_model_create(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    """Add Model: a custom model's name, type and credential; an existing name + type gets
    the credential added. `?model=<name>&type=<type>` prefills them (Add credential on a
    model's page)."""
    return _create(request, provider_key, custom=True)


def _create(request: HtmxHttpRequest, provider_key: str, *, custom: bool) -> HttpResponse:
    provider = get_provider_or_404(provider_key)
    if custom and not provider.supports_custom_models:
        raise Http404("This provider has no custom models.")
    retry_of = None
    if request.POST.get("retry_of"):
        retry_of = selectors.failed_attempt(
            workspace=request.workspace,
            user=request.user,
            provider=provider.key,
            pk=request.POST["retry_of"],
        )
    initial = {
        "model_name": request.GET.get("model", request.GET.get("model_name", "")),
        "model_type": request.GET.get("type", request.GET.get("model_type")),
        # Refresh models → Add Model: what the provider reported the model can do.
        # (`features`: the ticks kept when choosing a credential reloads the form.)
        **(
            {"features": [f for f in request.GET.getlist(key) if f]}
            if (key := "feature" if "feature" in request.GET else "features") in request.GET
            else {}
        ),
    }
    kept_secrets = _kept_secret_placeholders(provider, None, retry_of is not None, custom=custom)
    reuse = None
    if custom:
        choices = selectors.credential_choices(workspace=request.workspace, provider=provider.key)
        form_class = custom_model_form_class(provider, credentials=choices)
        # Add Model with one of the provider's credentials (Refresh models → Add Model
        # chooses the one it listed with): its address and the mask of its key.
        reuse = _reused_credential(request, provider, choices)
        if reuse is not None:
            initial.update(_reused_initial(provider, reuse))
            kept_secrets = _reused_placeholders(provider, reuse)
    else:
        form_class = credential_form_class(provider.credential_schema)
    form = form_class(request.POST or None, initial=initial, kept_secrets=kept_secrets)
    model = {}
    if request.method == "POST" and custom and form.is_valid():
        model = {
            "model_name": form.cleaned_data["model_name"],
            "model_type": form.cleaned_data["model_type"],
            "model_features": form.cleaned_data["features"],
            "reuse": reuse,
        }
    return _submit(
        request,
        provider,
        form,
        custom=custom,
        retry_of=retry_of,
        add_to_pool=_pool_target(request),
        **model,
    )


def _reused_credential(
    request: HtmxHttpRequest, provider: ProviderSpec, choices: list[Credential]
) -> Credential | None:
    """The credential Add Model reuses: the form's choice, or `?credential=` on a GET. Only
    one of the choices (this workspace's, this provider's); anything else is a new one."""
    chosen = (request.POST if request.method == "POST" else request.GET).get("credential")
    if chosen in (None, NEW_CREDENTIAL) or not any(str(c.pk) == chosen for c in choices):
        return None
    return selectors.credential_get_or_404(
        workspace=request.workspace, provider=provider.key, pk=chosen
    )


def _reused_initial(provider: ProviderSpec, reuse: Credential) -> dict:
    """The reused credential's non-secret values the new model's schema has, and the choice."""
    schema = services.credential_schema(provider, custom=True)
    secret = set(schema.secret_variables)
    values = {
        v: reuse.config[v]
        for v in (f.variable for f in schema.fields)
        if v not in secret and v in reuse.config
    }
    return {**values, "credential": str(reuse.pk)}


def _reused_placeholders(provider: ProviderSpec, reuse: Credential) -> dict[str, str]:
    schema = services.credential_schema(provider, custom=True)
    return {
        variable: f"{reuse.masks[variable]} — leave empty to reuse {reuse.name}'s"
        for variable in schema.secret_variables
        if variable in reuse.masks
    }


@require_http_methods(["GET", "POST"])
@manager_view
def credential_update(request: HtmxHttpRequest, provider_key: str, pk: int) -> HttpResponse:
    provider = get_provider_or_404(provider_key)
    credential = selectors.credential_get_or_404(
        workspace=request.workspace, provider=provider.key, pk=pk
    )
    schema = services.credential_schema(provider, custom=bool(credential.model_name))
    form = credential_form_class(schema)(
        request.POST or None,
        initial={**credential.config, "name": credential.name},
        kept_secrets=_kept_secret_placeholders(provider, credential, False),
    )
    return _submit(request, provider, form, credential=credential)


def _submit(
    request: HtmxHttpRequest,
    provider: ProviderSpec,
    form,
    *,
    custom: bool = False,
    credential: Credential | None = None,
    **request_kwargs,
) -> HttpResponse:
    """A valid POST becomes a pending validation (and its outcome); anything else shows the
    form again, with the reason when the service refused it."""
    if request.method == "POST" and form.is_valid():
        try:
            if request_kwargs.get("add_to_pool") is not None:
                request_kwargs["add_to_pool"] = pool_target_check(
                    workspace=request.workspace,
                    provider_key=provider.key,
                    target=request_kwargs["add_to_pool"],
                    model_name=request_kwargs.get("model_name", ""),
                    model_type=request_kwargs.get("model_type", ""),
                )
            pending = services.validation_request_create(
                workspace=request.workspace,
                provider_key=provider.key,
                acting_user=request.user,
                values=form.credential_values(),
                name=form.cleaned_data["name"],
                credential=credential,
                **request_kwargs,
            )
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return _validation_outcome(request, pending)
    status = 422 if form.errors else 200
    return _form_page(
        request,
        provider=provider,
        form=form,
        credential=credential,
        custom=custom,
        status=status,
        add_to_pool=request_kwargs.get("add_to_pool"),
    )


@require_GET
@manager_view
def validation_detail(request: HtmxHttpRequest, pk: str) -> HttpResponse:
    """Polled by the page: 204 while the provider is being asked, then the outcome (286)."""
    pending = selectors.pending_get_or_404(workspace=request.workspace, pk=pk)
    pending = services.pending_validation_expire_if_overdue(pending=pending)
    if request.GET.get("view") == "row":
        return _row_outcome(request, pending)
    if not pending.is_finished:
        return HttpResponse(status=204)
    return _validation_outcome(request, pending, polling=True)


def _row_outcome(request: HtmxHttpRequest, pending: PendingValidation) -> HttpResponse:
    if not pending.is_finished:
        return HttpResponse(status=204)
    credential = selectors.credential_of(pending)
    if credential is None:
        return trigger_client_event(HttpResponseStopPolling(), "credentialsChanged")
    response = render(
        request,
        "credentials/credential_list.html#credential-row",
        {
            "credential": credential,
            "provider": get_provider_or_404(credential.provider),
            "pins": credential_pins(credential=credential),
        },
    )
    response.status_code = HttpResponseStopPolling.status_code
    if pending.status == ValidationStatus.SUCCEEDED and pending.warning:
        return toast(response, f"{credential.name}: validated. {pending.warning}", "warning")
    if pending.status == ValidationStatus.SUCCEEDED:
        return toast(response, f"{credential.name}: validated.")
    return toast(response, f"{credential.name}: {pending.error_message}", "danger")


@require_POST
@manager_view
def credential_check(request: HtmxHttpRequest, provider_key: str, pk: int) -> HttpResponse:
    provider = get_provider_or_404(provider_key)
    credential = selectors.credential_get_or_404(
        workspace=request.workspace, provider=provider.key, pk=pk
    )
    pending = services.validation_check_request(credential=credential, acting_user=request.user)
    if not request.htmx:
        return redirect("provider-detail", provider.key)
    if pending.is_finished:
        return _row_outcome(request, pending)
    credential = selectors.credential_of(pending)
    return render(
        request,
        "credentials/credential_list.html#credential-row",
        {
            "credential": credential,
            "provider": provider,
            "check": pending,
            "pins": credential_pins(credential=credential),
        },
    )


@require_POST
@manager_view
def credential_check_all(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    provider = get_provider_or_404(provider_key)
    pendings = services.validation_check_all(
        workspace=request.workspace, provider_key=provider.key, acting_user=request.user
    )
    if not request.htmx:
        return redirect("provider-detail", provider.key)
    failed = sum(1 for p in pendings if p.status == ValidationStatus.FAILED)
    response = render(
        request,
        "credentials/credential_list.html#credential-list",
        credential_list_context(request, provider),
    )
    if pendings and all(p.is_finished for p in pendings):
        message = f"Checked {len(pendings)} credential{'s' if len(pendings) != 1 else ''}"
        message += f": {failed} failing." if failed else ": all valid."
        return toast(response, message, "danger" if failed else "success")
    return response


@require_POST
@manager_view
def credential_default(request: HtmxHttpRequest, provider_key: str, pk: int) -> HttpResponse:
    provider = get_provider_or_404(provider_key)
    credential = selectors.credential_get_or_404(
        workspace=request.workspace, provider=provider.key, pk=pk
    )
    try:
        credential = services.credential_set_default(
            credential=credential, acting_user=request.user
        )
    except ApplicationError as exc:
        message, level = exc.message, "danger"
    else:
        target = credential.model_name or provider.label
        message, level = f"{credential.name} is now the default for {target}.", "success"
    if not request.htmx:
        return redirect("provider-detail", provider.key)
    # The list of the credential's own scope: the provider's, or its custom model's.
    return done(request, message, level, events=("credentialsChanged",))


@require_http_methods(["GET", "POST"])
@manager_view
def credential_delete(request: HtmxHttpRequest, provider_key: str, pk: int) -> HttpResponse:
    provider = get_provider_or_404(provider_key)
    credential = selectors.credential_get_or_404(
        workspace=request.workspace, provider=provider.key, pk=pk
    )
    if request.method == "GET":
        # Deleting a model's last credential deletes the model; a removed model is gone
        # already, and its last credential only leaves Add Model's re-add list.
        only_credential = (
            bool(credential.model_name)
            and selectors.custom_model_exists(
                workspace=request.workspace,
                provider=provider.key,
                name=credential.model_name,
                model_type=credential.model_type,
            )
            and not (
                selectors.credential_list(
                    workspace=request.workspace,
                    provider=provider.key,
                    model_name=credential.model_name,
                    model_type=credential.model_type,
                )[1:]
            )
        )
        return render_page(
            request,
            "credentials/credential_confirm_delete.html",
            {
                "credential": credential,
                "provider": provider,
                "only_credential": only_credential,
                "pools": credential_pool_usage(credential=credential),
                "pins": credential_pins(credential=credential),
            },
            fragment="confirm",
        )
    try:
        deleted = services.credential_delete(credential=credential, acting_user=request.user)
    except ApplicationError as exc:
        message, level = exc.message, "danger"
    else:
        if not request.htmx:
            return redirect("provider-detail", provider.key)
        message = f"{credential.name} deleted."
        if deleted.model_deleted:
            message += f" It was the only credential of {credential.model_name}, which was removed."
        elif deleted.was_default and credential.model_name:
            message += f" {credential.model_name} has no credential selected now: select one."
        elif deleted.was_default:
            message += f" {provider.label} has no default credential now: select one."
        if deleted.pools_stopped:
            message += " Load balancing stopped on " + ", ".join(deleted.pools_stopped) + "."
        if deleted.pins_cleared:
            message += (
                " These environments lost their pin and follow the default now: "
                + ", ".join(deleted.pins_cleared)
                + "."
            )
        warn = (
            deleted.was_default
            or deleted.model_deleted
            or deleted.pools_stopped
            or deleted.pins_cleared
        )
        level = "warning" if warn else "success"
    # An empty 200, not a 204: the confirmation dialog it was posted from is emptied.
    return done(
        request,
        message,
        level,
        events=("credentialsChanged",),
        close_modal=True,
        response=HttpResponse(),
    )


def credential_list_context(
    request: HtmxHttpRequest, provider: ProviderSpec, custom_model=None
) -> dict:
    """A credential section: the provider's (predefined models) or one custom model's."""
    scope = (
        {"model_name": custom_model.name, "model_type": custom_model.type} if custom_model else {}
    )
    credentials = selectors.credential_list(
        workspace=request.workspace, provider=provider.key, **scope
    )
    if custom_model:
        query = urlencode({"model": custom_model.name, "type": custom_model.type})
        add_url = f"{reverse('custom-model-create', args=[provider.key])}?{query}"
    else:
        add_url = reverse("credential-create", args=[provider.key])
    return {
        # A provider without predefined models leads with Add Model: a provider-wide
        # credential alone gives no model.
        "lead_with_add_model": provider.custom_only and custom_model is None,
        "add_model_url": reverse("custom-model-create", args=[provider.key])
        if provider.supports_custom_models
        else "",
        "provider": provider,
        "scope_model": custom_model,
        "credentials": credentials,
        "checks": selectors.checks_in_progress(credentials=credentials),
        # The environments pinned to each credential (badges on its row).
        "credential_pins": credential_pins_by_id(
            workspace=request.workspace, provider=provider.key
        ),
        "has_default": any(c.is_default for c in credentials),
        "add_credential_url": add_url,
    }


@require_GET
@workspace_view()
def credential_list(request: HtmxHttpRequest, provider_key: str) -> HttpResponse:
    """The credential section alone, refreshed after `credentialsChanged`."""
    provider = get_provider_or_404(provider_key)
    custom_model = None
    if request.GET.get("model"):
        custom_model = custom_model_get_or_404(
            workspace=request.workspace, provider=provider.key, pk=request.GET["model"]
        )
    return render(
        request,
        "credentials/credential_list.html#credential-list",
        credential_list_context(request, provider, custom_model),
    )
