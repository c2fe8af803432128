"""Puts the current workspace and the user's membership in it on every request.

The current workspace is kept in the session; a user whose stored workspace is gone (or who
never chose one) lands in their first workspace.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .selectors import memberships_for_user

SESSION_KEY = "current_workspace_id"


class CurrentWorkspaceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.workspace = None
        request.membership = None
        if request.user.is_authenticated:
            wanted = request.session.get(SESSION_KEY)
            memberships = memberships_for_user(user=request.user)
            membership = memberships.filter(workspace_id=wanted).first() if wanted else None
            if membership is None:
                membership = memberships.first()
                if membership is not None:
                    request.session[SESSION_KEY] = membership.workspace_id
            if membership is not None:
                request.membership = membership
                request.workspace = membership.workspace
        return self.get_response(request)
