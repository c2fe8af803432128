"""Read-side queries over API keys."""

from __future__ import annotations

from workspaces.models import Environment, Membership, Workspace
from workspaces.services import default_environment

from .models import ApiKey
from .services import may_create_key_in


def api_keys_of_member(*, workspace: Workspace, user, **_signal) -> list[str]:
    """The active keys `user` created in `workspace`, one line each: those that stop if the
    membership ends (a receiver of workspaces' `membership_ending_preview`)."""
    keys = ApiKey.objects.filter(workspace=workspace, created_by=user, revoked_at__isnull=True)
    return [key.in_words for key in keys.order_by("name")]


def api_keys_of_environment(*, environment, **_signal) -> list[str]:
    """The active keys of an environment, one line each: those revoked if it is deleted (a
    receiver of workspaces' `environment_ending_preview`)."""
    keys = ApiKey.objects.filter(environment=environment, revoked_at__isnull=True)
    return [key.in_words for key in keys.order_by("name")]


def key_environments(*, workspace: Workspace, membership: Membership | None) -> list[Environment]:
    """The environments `membership` may create keys in (all for owners and admins), the
    workspace's default first."""
    default_environment(workspace)  # a workspace made before environments, or in the admin
    return [
        environment
        for environment in Environment.objects.filter(workspace=workspace)
        if may_create_key_in(environment, membership)
    ]
