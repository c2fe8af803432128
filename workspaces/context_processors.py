"""Template context for the top bar: the current workspace, the user's role and workspaces."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .models import Role
from .selectors import memberships_for_user


def current_workspace(request: HttpRequest) -> dict:
    membership = getattr(request, "membership", None)
    user = getattr(request, "user", None)
    if membership is None or user is None or not user.is_authenticated:
        return {"workspace": None, "membership": None, "can_manage": False}
    return {
        "workspace": membership.workspace,
        "membership": membership,
        "can_manage": Role(membership.role).manages_workspace,
        # Only the top bar's switcher reads this, so it costs a query only when rendered.
        "my_memberships": SimpleLazyObject(lambda: list(memberships_for_user(user=user))),
    }
