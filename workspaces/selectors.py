"""Reads of workspaces and memberships, always scoped to a workspace or a user."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .models import Invitation, Membership, Role, User, Workspace


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("workspace")
        .order_by("workspace__name", "workspace__pk")
    )


def member_list(*, workspace: Workspace) -> list[Membership]:
    members = list(Membership.objects.filter(workspace=workspace).select_related("user"))
    return sorted(members, key=lambda m: (-Role(m.role).rank, m.user.email))


def membership_get_or_404(*, workspace: Workspace, pk: int) -> Membership:
    """Another workspace's membership id answers 404, like any unknown id."""
    return get_object_or_404(Membership.objects.select_related("user"), workspace=workspace, pk=pk)


def workspace_owner(*, workspace: Workspace) -> Membership | None:
    return (
        Membership.objects.filter(workspace=workspace, role=Role.OWNER)
        .select_related("user")
        .first()
    )


def invitation_list(*, workspace: Workspace) -> list[Invitation]:
    """Pending invitations, each with when its newest link stops working (`expires_at`)."""
    max_age, now = timedelta(days=settings.INVITATION_MAX_AGE_DAYS), timezone.now()
    invitations = list(
        Invitation.objects.filter(workspace=workspace)
        .select_related("invited_by")
        .order_by("email")
    )
    for invitation in invitations:
        invitation.expires_at = invitation.sent_at + max_age if invitation.sent_at else None
        invitation.expired = bool(invitation.expires_at and invitation.expires_at <= now)
    return invitations


def invitation_get_or_404(*, workspace: Workspace, pk: int) -> Invitation:
    """Another workspace's invitation id answers 404, like any unknown id."""
    return get_object_or_404(
        Invitation.objects.select_related("workspace"), workspace=workspace, pk=pk
    )
