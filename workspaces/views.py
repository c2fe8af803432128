"""Workspace pages: switching and creating workspaces, members and roles, workspace settings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from . import selectors, services
from .access import login_view, manager_view, public_view, workspace_view
from .exceptions import ApplicationError
from .forms import MemberAddForm, MemberRoleForm, OwnershipTransferForm, WorkspaceForm
from .htmx import HtmxHttpRequest, done, render_page
from .invitations import invitation_from_token
from .middleware import SESSION_KEY
from .models import Membership, Role, User
from .signals import what_ends_with_membership


def _redirect(request: HtmxHttpRequest, to: str) -> HttpResponse:
    """After a change, HTMX clients follow a client redirect; others a normal one."""
    return HttpResponseClientRedirect(to) if request.htmx else redirect(to)


@require_GET
@login_view
def home(request: HtmxHttpRequest) -> HttpResponse:
    if request.workspace is None:
        return render(request, "workspaces/no_workspace.html")
    return redirect("provider-list")


@require_POST
@login_view
def workspace_switch(request: HtmxHttpRequest) -> HttpResponse:
    membership = get_object_or_404(
        Membership.objects.select_related("workspace"),
        user=request.user,
        workspace__slug=request.POST.get("workspace", ""),
    )
    request.session[SESSION_KEY] = membership.workspace_id
    messages.success(request, f"Switched to {membership.workspace.name}.")
    return _redirect(request, reverse("home"))


@require_http_methods(["GET", "POST"])
@login_view
def workspace_create(request: HtmxHttpRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_create(
                name=form.cleaned_data["name"], owner=request.user
            )
        except ApplicationError as exc:
            form.add_error(exc.field, exc.message)
        else:
            request.session[SESSION_KEY] = workspace.pk
            messages.success(request, f"Workspace {workspace.name} created. You are its owner.")
            return _redirect(request, reverse("home"))
    return render(request, "workspaces/workspace_create.html", {"form": form})


@require_http_methods(["GET", "POST"])
@workspace_view()
def workspace_update(request: HtmxHttpRequest) -> HttpResponse:
    """Workspace settings: everyone reads them, owners and admins rename."""
    form = WorkspaceForm(request.POST or None, initial={"name": request.workspace.name})
    if request.method == "POST":
        if not Role(request.membership.role).manages_workspace:
            raise PermissionDenied("Only the owner or an admin can rename the workspace.")
        if form.is_valid():
            try:
                services.workspace_rename(
                    workspace=request.workspace,
                    name=form.cleaned_data["name"],
                    acting_user=request.user,
                )
            except ApplicationError as exc:
                form.add_error(exc.field, exc.message)
            else:
                messages.success(request, "Workspace renamed.")
                return _redirect(request, reverse("workspace-update"))
    context = {
        "form": form,
        "owner": selectors.workspace_owner(workspace=request.workspace),
        "transfer_form": OwnershipTransferForm(
            memberships=request.workspace.memberships.exclude(role=Role.OWNER).select_related(
                "user"
            )
        ),
    }
    return render(request, "workspaces/workspace_update.html", context)


@require_POST
@workspace_view()
def workspace_leave(request: HtmxHttpRequest) -> HttpResponse:
    try:
        services.membership_leave(workspace=request.workspace, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _redirect(request, reverse("workspace-update"))
    request.session.pop(SESSION_KEY, None)
    messages.success(request, f"You left {request.workspace.name}.")
    return _redirect(request, reverse("home"))


@require_POST
@workspace_view(Role.OWNER)
def workspace_transfer(request: HtmxHttpRequest) -> HttpResponse:
    form = OwnershipTransferForm(
        request.POST, memberships=request.workspace.memberships.exclude(role=Role.OWNER)
    )
    if not form.is_valid():
        messages.error(request, "Choose the member who becomes the owner.")
        return _redirect(request, reverse("workspace-update"))
    try:
        services.ownership_transfer(
            workspace=request.workspace,
            to_membership=form.cleaned_data["new_owner"],
            acting_user=request.user,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{form.cleaned_data['new_owner'].user.email} is now the owner; you are an admin.",
        )
    return _redirect(request, reverse("workspace-update"))


@require_GET
@workspace_view()
def member_list(request: HtmxHttpRequest) -> HttpResponse:
    can_manage = Role(request.membership.role).manages_workspace
    context = {
        "members": selectors.member_list(workspace=request.workspace),
        # Pending invitations are for those who manage members (and may Resend or Cancel).
        "invitations": selectors.invitation_list(workspace=request.workspace) if can_manage else [],
        "role_choices": MemberRoleForm.base_fields["role"].choices,
    }
    return render_page(request, "workspaces/member_list.html", context, targets=("member-table",))


def _site_url(request: HtmxHttpRequest) -> str:
    """The site's address for links in emails (the host is one ALLOWED_HOSTS accepted)."""
    return request.build_absolute_uri("/")


def _after_change(request: HtmxHttpRequest, message: str, level: str = "success") -> HttpResponse:
    """The member list refreshes (HTMX) or reloads (plain form) and says what happened."""
    return done(request, message, level, events=("membersChanged",), redirect_to="member-list")


@require_http_methods(["GET", "POST"])
@manager_view
def member_create(request: HtmxHttpRequest) -> HttpResponse:
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            added = services.membership_add(
                workspace=request.workspace,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                acting_user=request.user,
                base_url=_site_url(request),
            )
        except ApplicationError as exc:
            form.add_error(exc.field, exc.message)
        else:
            # The invitation link goes to the address only: nothing here may carry it.
            if added.membership is not None:
                email, role = added.membership.user.email, added.membership.role
                return _after_change(request, f"{email} added as {role}.")
            email, role = added.invitation.email, added.invitation.role
            if not added.email_sent:
                return _after_change(
                    request,
                    f"The invitation for {email} is saved but the email could not be sent; "
                    "try Resend later.",
                    "warning",
                )
            return _after_change(
                request,
                f"Invitation emailed to {email}. They join as {role} once they accept it.",
            )
    return render_page(
        request,
        "workspaces/member_form.html",
        {"form": form},
        fragment="member-form",
        status=422 if form.errors else 200,
    )


@require_POST
@manager_view
def invitation_resend(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    invitation = selectors.invitation_get_or_404(workspace=request.workspace, pk=pk)
    try:
        sent = services.invitation_resend(
            invitation=invitation, acting_user=request.user, base_url=_site_url(request)
        )
    except ApplicationError as exc:
        return _after_change(request, exc.message, "danger")
    if not sent:
        return _after_change(
            request,
            f"The email to {invitation.email} could not be sent; try again later.",
            "warning",
        )
    return _after_change(request, f"A new invitation link was emailed to {invitation.email}.")


@require_http_methods(["GET", "POST"])
@manager_view
def invitation_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Cancel a pending invitation (confirmed in a modal): its link stops working."""
    invitation = selectors.invitation_get_or_404(workspace=request.workspace, pk=pk)
    if request.method == "GET":
        return render_page(
            request,
            "workspaces/invitation_confirm_delete.html",
            {"invitation": invitation},
            fragment="confirm",
        )
    try:
        services.invitation_cancel(invitation=invitation, acting_user=request.user)
    except ApplicationError as exc:
        return _after_change(request, exc.message, "danger")
    return _after_change(request, f"Invitation for {invitation.email} cancelled.")


INVITATION_SESSION_KEY = "invitation_token"


@require_GET
@public_view
def invitation_open(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """The emailed link. As Django's password reset does, the token moves into the session and
    the browser goes on to a URL without it, so later requests (the form, a failed check, an
    error) never carry it in their address, their log line or a Referer."""
    if invitation_from_token(token) is None:
        return render(request, "registration/invitation_accept.html", {"invitation": None})
    request.session[INVITATION_SESSION_KEY] = token
    return redirect("invitation-accept")


@require_http_methods(["GET", "POST"])
@public_view
def invitation_accept(request: HtmxHttpRequest) -> HttpResponse:
    token = request.session.get(INVITATION_SESSION_KEY) or ""
    invitation = invitation_from_token(token) if token else None
    if invitation is None:
        return render(request, "registration/invitation_accept.html", {"invitation": None})
    account = User.objects.filter(email__iexact=invitation.email).first()
    needs_password = account is None or not account.email_confirmed
    signed_in = request.user if request.user.is_authenticated else None
    form = None
    if needs_password:
        form = SetPasswordForm(account or User(email=invitation.email), request.POST or None)
    error = ""
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            membership = services.invitation_accept(
                invitation=invitation,
                password=form.cleaned_data["new_password1"] if form else None,
                signed_in=signed_in,
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            request.session.pop(INVITATION_SESSION_KEY, None)
            if needs_password:
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_KEY] = membership.workspace_id
            messages.success(
                request, f"Welcome to {membership.workspace.name}. You joined as {membership.role}."
            )
            return redirect("home")
    context = {
        "invitation": invitation,
        "form": form,
        "error": error,
        "signed_in_as_invitee": signed_in is not None
        and signed_in.pk == getattr(account, "pk", None),
    }
    status = 422 if (form is not None and form.errors) or error else 200
    return render(request, "registration/invitation_accept.html", context, status=status)


@require_POST
@manager_view
def member_update(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    membership = selectors.membership_get_or_404(workspace=request.workspace, pk=pk)
    form = MemberRoleForm(request.POST)
    error = None
    if form.is_valid():
        try:
            membership = services.membership_change_role(
                membership=membership, role=form.cleaned_data["role"], acting_user=request.user
            )
        except ApplicationError as exc:
            error = exc.message
    else:
        error = "Choose admin, editor or member."
    if error:
        message, level = error, "danger"
    else:
        message, level = f"{membership.user.email} is now {membership.role}.", "success"
    if not request.htmx:
        return done(request, message, level, redirect_to="member-list")
    response = render(
        request,
        "workspaces/member_list.html#member-row",
        {
            "member": membership,
            "role_choices": MemberRoleForm.base_fields["role"].choices,
        },
    )
    return done(request, message, level, response=response)


@require_http_methods(["GET", "POST"])
@manager_view
def member_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    membership = selectors.membership_get_or_404(workspace=request.workspace, pk=pk)
    if request.method == "GET":
        ending = what_ends_with_membership(workspace=request.workspace, user=membership.user)
        return render_page(
            request,
            "workspaces/member_confirm_delete.html",
            {"member": membership, "ending": ending},
            fragment="confirm",
        )
    try:
        services.membership_remove(membership=membership, acting_user=request.user)
    except ApplicationError as exc:
        return done(request, exc.message, "danger", redirect_to="member-list")
    return _after_change(request, f"{membership.user.email} removed.")


@require_GET
@manager_view
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    """Who changed what and when in this workspace, newest first (owners and admins)."""
    from django.core.paginator import Paginator

    entries = request.workspace.audit_entries.select_related("actor")
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(request, "workspaces/audit_log.html", {"page": page})
