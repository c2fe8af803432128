"""Settings → Environments: the workspace's environments (add, rename, open to members' keys,
delete) and, per provider and model, what each environment uses, pinned in place.

Everyone reads the page; owners and admins change it (the decorators here, the services again).
Every change answers with `environmentsChanged`, which refreshes the list and the table.
"""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from balancing.selectors import PinnableModel, environment_matrix, pinnable_models
from balancing.services import ModelRef, pin_set
from credentials.models import Credential
from upstream.registry import get_provider
from workspaces import services as workspace_services
from workspaces.access import manager_view, workspace_view
from workspaces.exceptions import ApplicationError
from workspaces.htmx import HtmxHttpRequest, done, render_page
from workspaces.models import Environment
from workspaces.signals import what_ends_with_environment

from . import selectors

FOLLOW_DEFAULT = ""
TEMPLATE = "providers/environments.html"


def _page_context(request: HtmxHttpRequest) -> dict:
    environments = selectors.environment_list(workspace=request.workspace)
    return {
        "environments": environments,
        "rows": environment_matrix(workspace=request.workspace, environments=environments),
    }


def _changed(request: HtmxHttpRequest, message: str, level: str = "success") -> HttpResponse:
    """The page's sections refresh (HTMX) or the page reloads (plain form) and says so."""
    changed = level != "danger"
    return done(
        request,
        message,
        level,
        events=("environmentsChanged",) if changed else (),
        close_modal=changed,
        redirect_to="environment-list",
    )


@require_GET
@workspace_view()
def environment_list(request: HtmxHttpRequest) -> HttpResponse:
    return render_page(
        request, TEMPLATE, _page_context(request), targets=("environment-table", "pin-table")
    )


class EnvironmentForm(forms.Form):
    name = forms.CharField(label="Name", max_length=60, help_text="For example Development.")
    members_create_keys = forms.BooleanField(
        label="Members may create keys",
        required=False,
        help_text="Editors and members may create API keys in it; owners and admins always may.",
    )


class RenameForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=60,
        help_text="Renaming changes nothing else: its keys, pins and usage stay with it.",
    )


@require_http_methods(["GET", "POST"])
@manager_view
def environment_create(request: HtmxHttpRequest) -> HttpResponse:
    form = EnvironmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            environment = workspace_services.environment_create(
                workspace=request.workspace,
                name=form.cleaned_data["name"],
                members_create_keys=form.cleaned_data["members_create_keys"],
                acting_user=request.user,
            )
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return _changed(
                request,
                f"{environment.name} added. It pins nothing yet, so it uses the defaults.",
            )
    return render_page(
        request,
        "providers/environment_form.html",
        {"form": form, "environment": None},
        fragment="environment-form",
        status=422 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@manager_view
def environment_update(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Rename an environment (a modal form)."""
    environment = selectors.environment_get_or_404(workspace=request.workspace, pk=pk)
    form = RenameForm(request.POST or None, initial={"name": environment.name})
    if request.method == "POST" and form.is_valid():
        before = environment.name
        try:
            environment = workspace_services.environment_update(
                environment=environment, name=form.cleaned_data["name"], acting_user=request.user
            )
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if environment.name == before:
                return _changed(request, f"{before} keeps its name.")
            return _changed(request, f"{before} is now named {environment.name}.")
    return render_page(
        request,
        "providers/environment_form.html",
        {"form": form, "environment": environment},
        fragment="environment-form",
        status=422 if form.errors else 200,
    )


@require_POST
@manager_view
def environment_keys(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Open an environment to members' keys (`members_create_keys=on`) or close it."""
    environment = selectors.environment_get_or_404(workspace=request.workspace, pk=pk)
    opened = request.POST.get("members_create_keys") in ("on", "true", "1")
    try:
        environment = workspace_services.environment_update(
            environment=environment, members_create_keys=opened, acting_user=request.user
        )
    except ApplicationError as exc:
        return _changed(request, exc.message, "danger")
    if opened:
        return _changed(request, f"Members may create keys in {environment.name}.")
    return _changed(
        request,
        f"Only owners and admins create keys in {environment.name} now; "
        "keys made before keep working.",
    )


@require_http_methods(["GET", "POST"])
@manager_view
def environment_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Confirm, naming the keys that are revoked with it; the default one is refused."""
    environment = selectors.environment_get_or_404(workspace=request.workspace, pk=pk)
    if request.method == "GET":
        ending = (
            [] if environment.is_default else what_ends_with_environment(environment=environment)
        )
        return render_page(
            request,
            "providers/environment_confirm_delete.html",
            {"environment": environment, "ending": ending},
            fragment="confirm",
        )
    try:
        ended = workspace_services.environment_delete(
            environment=environment, acting_user=request.user
        )
    except ApplicationError as exc:
        return _changed(request, exc.message, "danger")
    message = f"{environment.name} deleted."
    if ended:
        message += f" Revoked: {', '.join(ended)}."
    return _changed(request, message, "warning" if ended else "success")


# -- pins -----------------------------------------------------------------------------------


def _pin_words(environment: Environment, what: str, credential: Credential | None) -> str:
    if credential is None:
        return f"{environment.name} follows the default for {what} again."
    return f"{environment.name} now uses “{credential.name}” for {what}."


def _chosen_credential(request: HtmxHttpRequest, value: str) -> Credential | None:
    """The workspace's credential named by the form; None for "Follow the default"."""
    if value == FOLLOW_DEFAULT:
        return None
    credential = None
    if value.isdigit():
        credential = Credential.objects.filter(workspace=request.workspace, pk=int(value)).first()
    if credential is None:
        raise ApplicationError("That credential is not one of this workspace's.")
    return credential


@require_POST
@manager_view
def environment_pin(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One cell of the table, edited in place: pin a credential in the environment for the
    provider (no `model`) or one model, or follow the default again. The table re-renders."""
    environment = selectors.environment_get_or_404(workspace=request.workspace, pk=pk)
    provider = get_provider(request.POST.get("provider", ""))
    name = (request.POST.get("model") or "").strip()[:200]
    ref = None
    try:
        if provider is None:
            raise ApplicationError("Choose a provider.")
        if name:
            ref = ModelRef(
                provider.key,
                name,
                (request.POST.get("type") or "").strip()[:30],
                request.POST.get("custom") in ("1", "true", "on"),
            )
        credential = _chosen_credential(request, request.POST.get("credential", ""))
        pin_set(
            environment=environment,
            provider=provider.key,
            credential=credential,
            acting_user=request.user,
            ref=ref,
        )
    except ApplicationError as exc:
        message, level = exc.message, "danger"
    else:
        what = f"{provider.label} · {ref.name}" if ref else provider.label
        message, level = _pin_words(environment, what, credential), "success"
    if not request.htmx:
        return done(request, message, level, redirect_to="environment-list")
    response = render(
        request,
        f"{TEMPLATE}#pin-table",
        _page_context(request),
        status=422 if level == "danger" else 200,
    )
    return done(request, message, level, response=response)


def _model_value(model: PinnableModel) -> str:
    ref = model.ref
    return f"{ref.provider}:{ref.type}:{'c' if ref.custom else 'p'}:{ref.name}"


class PinForm(forms.Form):
    """Pin a model: the environment, the model and the credential (of the model's scope)."""

    environment = forms.ChoiceField(label="Environment")
    model = forms.ChoiceField(label="Model")
    credential = forms.ChoiceField(
        label="Credential",
        help_text="A credential of the provider, or for a custom model one of its own.",
    )

    def __init__(self, *args, request: HtmxHttpRequest, **kwargs):
        super().__init__(*args, **kwargs)
        workspace = request.workspace
        self.environments = {str(e.pk): e for e in selectors.environment_list(workspace=workspace)}
        self.fields["environment"].choices = [(k, e.name) for k, e in self.environments.items()]
        self.models = {_model_value(m): m for m in pinnable_models(workspace=workspace)}
        self.fields["model"].choices = [(k, m.label) for k, m in self.models.items()]
        groups: dict[str, list[tuple[str, str]]] = {}
        for credential in Credential.objects.filter(workspace=workspace).only(
            "pk", "name", "provider", "model_name"
        ):
            provider = get_provider(credential.provider)
            group = provider.label if provider else credential.provider
            if credential.model_name:
                group += f" · {credential.model_name}"
            groups.setdefault(group, []).append((str(credential.pk), credential.name))
        self.fields["credential"].choices = sorted(groups.items())

    def chosen(self) -> tuple[Environment, ModelRef, Credential]:
        data = self.cleaned_data
        credential = Credential.objects.get(pk=int(data["credential"]))
        return self.environments[data["environment"]], self.models[data["model"]].ref, credential


@require_http_methods(["GET", "POST"])
@manager_view
def environment_pin_create(request: HtmxHttpRequest) -> HttpResponse:
    """Pin a model: a model of its own row in the table, pinned in one environment."""
    form = PinForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        environment, ref, credential = form.chosen()
        try:
            pin_set(
                environment=environment,
                provider=ref.provider,
                credential=credential,
                acting_user=request.user,
                ref=ref,
            )
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            what = f"{get_provider(ref.provider).label} · {ref.name}"
            return _changed(request, _pin_words(environment, what, credential))
    return render_page(
        request,
        "providers/pin_form.html",
        {"form": form},
        fragment="pin-form",
        status=422 if form.errors else 200,
    )
