"""The one mechanism every view uses to declare and enforce who may call it.

Each view is wrapped by exactly one of `public_view`, `login_view` or `workspace_view(role)`.
The wrapper records its policy on the view (`access_policy`), and a test walks every URL pattern
to make sure no view was left without one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Role

View = Callable[..., HttpResponse]


def public_view(view: View) -> View:
    """Anyone may call it (login page, health check)."""
    view.access_policy = "public"  # type: ignore[attr-defined]
    return view


def login_view(view: View) -> View:
    """Any logged-in user, whether or not they belong to a workspace yet."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    wrapped.access_policy = "login"  # type: ignore[attr-defined]
    return wrapped


# Who a page is for, as a member reaching it is told (not "your role does not allow this change",
# which reads as if something was being changed).
FOR_ROLES = {
    Role.OWNER: "This is for the workspace's owner.",
    Role.ADMIN: "This is for owners and admins.",
    Role.EDITOR: "This is for editors, admins and owners.",
    Role.MEMBER: "This is for the workspace's members.",
}


def workspace_view(minimum: Role = Role.MEMBER) -> Callable[[View], View]:
    """A member of the current workspace with at least `minimum` role; others get 403."""
    minimum = Role(minimum)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = getattr(request, "membership", None)
            if membership is None:
                return render(request, "workspaces/no_workspace.html", status=403)
            if not Role(membership.role).at_least(minimum):
                raise PermissionDenied(FOR_ROLES[minimum])
            return view(request, *args, **kwargs)

        wrapped.access_policy = f"workspace:{minimum.value}"  # type: ignore[attr-defined]
        return wrapped

    return decorator


manager_view = workspace_view(Role.ADMIN)
