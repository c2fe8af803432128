"""Writes to workspaces and memberships: the role rules of DESIGN.md section 2 live here.

Views, admin actions and management commands call these functions, so each rule exists once.
Each takes the actor (workspaces/actors.py) and checks a user's role itself: the view's check
is the first line of defence, this is the second. The site operator (`Operator`) has no
workspace role and passes `require_manager`; only code (the Django admin, commands, beat
tasks) can make one, never a request's user.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from .actors import Actor, Operator, actor_user
from .config_cache import ConfigKind, config_changed
from .exceptions import ApplicationError, NotAllowed
from .invitations import send_added_notice, send_invitation
from .models import (
    Environment,
    Invitation,
    Membership,
    Role,
    User,
    Workspace,
    new_link_version,
)
from .signals import environment_ending, membership_ending


@dataclass(frozen=True)
class MemberAdded:
    """Either a membership (a confirmed account, added at once) or an invitation (sent to an
    address nobody has proven yet, granting nothing until accepted)."""

    membership: Membership | None = None
    invitation: Invitation | None = None
    email_sent: bool = False


def _acting_membership(*, workspace: Workspace, user: User, lock: bool = False) -> Membership:
    memberships = Membership.objects.filter(workspace=workspace, user=user)
    if lock:
        memberships = memberships.select_for_update()
    membership = memberships.first()
    if membership is None:
        raise NotAllowed("You are not a member of this workspace.")
    return membership


def require_manager(*, workspace: Workspace, user: Actor) -> Membership | None:
    """The acting user's membership if it manages the workspace; None for the operator, who
    is not asked for a role (the Django admin's permissions, or shell access, decided)."""
    if isinstance(user, Operator):
        return None
    membership = _acting_membership(workspace=workspace, user=user)
    if not Role(membership.role).manages_workspace:
        raise NotAllowed("Only the owner or an admin can do this.")
    return membership


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug, n = base, 2
    while Workspace.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _clean_name(name: str, *, what: str = "workspace", most: int = 100, example: str = "") -> str:
    """A name with its spaces tidied, or ApplicationError: empty, longer than `most`, or with
    control characters."""
    name = " ".join((name or "").split())
    if not name:
        raise ApplicationError(f"Give the {what} a name{example}.", field="name")
    if len(name) > most:
        raise ApplicationError(
            f"{what.capitalize()} names are at most {most} characters.", field="name"
        )
    if any(ord(c) < 32 for c in name):
        raise ApplicationError("The name contains control characters.", field="name")
    return name


@transaction.atomic
def workspace_create(*, name: str, owner: User, slug: str | None = None) -> Workspace:
    """A new workspace with `owner` as its one owner."""
    workspace = Workspace.objects.create(name=_clean_name(name), slug=slug or _unique_slug(name))
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    default_environment(workspace)
    return workspace


@transaction.atomic
def workspace_rename(*, workspace: Workspace, name: str, acting_user: Actor) -> Workspace:
    require_manager(workspace=workspace, user=acting_user)
    workspace.name = _clean_name(name)
    workspace.save(update_fields=["name"])
    audit_record(
        workspace=workspace, actor=acting_user, action="workspace.rename", target=workspace
    )
    return workspace


# -- environments ---------------------------------------------------------------------------

DEFAULT_ENVIRONMENT_NAME = "Production"


def default_environment(workspace: Workspace | int) -> Environment:
    """The workspace's default environment (new keys go there), made on first use: every
    workspace has one ("Production"), including those made in the Django admin."""
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    environment = Environment.objects.filter(workspace_id=workspace_id, is_default=True).first()
    if environment is not None:
        return environment
    try:
        with transaction.atomic():
            return Environment.objects.create(
                workspace_id=workspace_id,
                name=DEFAULT_ENVIRONMENT_NAME,
                is_default=True,
                members_create_keys=True,
            )
    except IntegrityError:  # made meanwhile by a concurrent request
        return Environment.objects.get(workspace_id=workspace_id, is_default=True)


def _clean_environment_name(workspace: Workspace, name: str, *, exclude: int | None = None) -> str:
    name = _clean_name(name, what="environment", most=60, example=", e.g. Development")
    taken = Environment.objects.filter(workspace=workspace, name__iexact=name)
    if taken.exclude(pk=exclude).exists():
        raise ApplicationError(
            f"This workspace already has an environment named {name}.", field="name"
        )
    return name


@transaction.atomic
def environment_create(
    *, workspace: Workspace, name: str, members_create_keys: bool = False, acting_user: Actor
) -> Environment:
    """A new environment. It pins nothing, so its calls use the workspace's defaults."""
    require_manager(workspace=workspace, user=acting_user)
    default_environment(workspace)
    environment = Environment.objects.create(
        workspace=workspace,
        name=_clean_environment_name(workspace, name),
        members_create_keys=members_create_keys,
    )
    audit_record(
        workspace=workspace, actor=acting_user, action="environment.create", target=environment
    )
    return environment


@transaction.atomic
def environment_update(
    *,
    environment: Environment,
    acting_user: Actor,
    name: str | None = None,
    members_create_keys: bool | None = None,
) -> Environment:
    """Rename it, or open or close it to members' keys. Renaming changes nothing else: keys,
    pins and usage follow the row, not the name."""
    workspace = environment.workspace
    require_manager(workspace=workspace, user=acting_user)
    locked = Environment.objects.select_for_update().filter(pk=environment.pk).first()
    if locked is None:
        raise ApplicationError("That environment was deleted meanwhile.")
    changes = {}
    if name is not None:
        name = _clean_environment_name(workspace, name, exclude=locked.pk)
        if name != locked.name:
            changes["name"] = [locked.name, name]
            locked.name = name
    if members_create_keys is not None and members_create_keys != locked.members_create_keys:
        changes["members_create_keys"] = members_create_keys
        locked.members_create_keys = members_create_keys
    if changes:
        locked.save(update_fields=["name", "members_create_keys"])
        audit_record(
            workspace=workspace,
            actor=acting_user,
            action="environment.rename" if "name" in changes else "environment.keys",
            target=locked,
            details=changes,
        )
    return locked


@transaction.atomic
def environment_delete(*, environment: Environment, acting_user: Actor) -> list[str]:
    """Delete an environment that is not the default: its pins and pools go with it, and its
    API keys are revoked (receivers of `environment_ending`). Returns what the receivers
    ended, in lines ("API key ci (mck_ab12cd…)")."""
    workspace = environment.workspace
    require_manager(workspace=workspace, user=acting_user)
    locked = Environment.objects.select_for_update().filter(pk=environment.pk).first()
    if locked is None:
        raise ApplicationError("That environment was deleted meanwhile.")
    if locked.is_default:
        raise ApplicationError(f"{locked.name} is the default environment: it cannot be deleted.")
    answers = environment_ending.send(
        sender=Environment, environment=locked, acting_user=acting_user
    )
    ended = [line for _receiver, lines in answers for line in lines or ()]
    audit_record(
        workspace=workspace,
        actor=acting_user,
        action="environment.delete",
        target=locked,
        details={"ended": ended[:50]} if ended else {},
    )
    locked.delete()
    config_changed(workspace.pk, ConfigKind.POOLS)  # its pins and own pools went with it
    return ended


def membership_add(
    *, workspace: Workspace, email: str, role: str, acting_user: User, base_url: str
) -> MemberAdded:
    """Add a person by email, or invite them when their address is not proven.

    Only an account whose owner has shown they read the address's mail (`email_confirmed`)
    is added at once (and told by email). Anyone else, with or without an account, gets an
    invitation by email: the link goes to the address only, so whoever reads that mail, and
    nobody else, decides whether the account joins. `base_url` is the site's address for links.
    """
    with transaction.atomic():
        require_manager(workspace=workspace, user=acting_user)
        if role not in {Role.ADMIN, Role.EDITOR, Role.MEMBER}:
            raise ApplicationError(
                "Choose admin, editor or member; ownership is transferred.", field="role"
            )
        email = User.objects.normalize_email((email or "").strip()).lower()
        user = User.objects.filter(email__iexact=email).first()
        if user is not None and Membership.objects.filter(workspace=workspace, user=user).exists():
            raise ApplicationError(f"{email} is already a member of this workspace.", field="email")
        if Invitation.objects.filter(workspace=workspace, email=email).exists():
            raise ApplicationError(
                f"{email} is already invited; use Resend on the pending invitation.", field="email"
            )
        if user is not None and user.email_confirmed:
            membership = Membership.objects.create(workspace=workspace, user=user, role=role)
            audit_record(
                workspace=workspace,
                actor=acting_user,
                action="member.add",
                object_type="membership",
                object_id=str(membership.pk),
                object_repr=f"{email} as {role}",
            )
        else:
            invitation = Invitation.objects.create(
                workspace=workspace,
                email=email,
                role=role,
                invited_by=acting_user,
                sent_at=timezone.now(),
            )
            audit_record(
                workspace=workspace,
                actor=acting_user,
                action="member.invite",
                object_type="invitation",
                object_id=str(invitation.pk),
                object_repr=f"{email} as {role}",
            )
    # Sent after the commit, so the link never names a row that was rolled back.
    if user is not None and user.email_confirmed:
        sent = send_added_notice(membership, base_url=base_url, acting_user=acting_user)
        return MemberAdded(membership=membership, email_sent=sent)
    return MemberAdded(
        invitation=invitation, email_sent=send_invitation(invitation, base_url=base_url)
    )


def invitation_resend(*, invitation: Invitation, acting_user: User, base_url: str) -> bool:
    """Email a fresh link (the previous one stops working); True when the email left."""
    with transaction.atomic():
        require_manager(workspace=invitation.workspace, user=acting_user)
        locked = Invitation.objects.select_for_update().filter(pk=invitation.pk).first()
        if locked is None:
            raise ApplicationError("This invitation was accepted or cancelled meanwhile.")
        locked.link_version = new_link_version()
        locked.sent_at = timezone.now()
        locked.save(update_fields=["link_version", "sent_at"])
        audit_record(
            workspace=locked.workspace,
            actor=acting_user,
            action="member.invite.resend",
            object_type="invitation",
            object_id=str(locked.pk),
            object_repr=locked.email,
        )
    return send_invitation(locked, base_url=base_url)


@transaction.atomic
def invitation_cancel(*, invitation: Invitation, acting_user: User) -> None:
    """Withdraw a pending invitation: its link stops working at once."""
    require_manager(workspace=invitation.workspace, user=acting_user)
    deleted, _ = Invitation.objects.filter(pk=invitation.pk).delete()
    if deleted:
        audit_record(
            workspace=invitation.workspace,
            actor=acting_user,
            action="member.invite.cancel",
            object_type="invitation",
            object_id=str(invitation.pk),
            object_repr=invitation.email,
        )


@transaction.atomic
def invitation_accept(
    *, invitation: Invitation, password: str | None = None, signed_in: User | None = None
) -> Membership:
    """Turn an invitation into a membership; only the holder of the emailed link calls this.

    An address without a confirmed account needs `password`: the account is created, or an
    unconfirmed one gets the new password, which signs out every session that knew the old
    one (someone who chose it through an inviter-visible link before issue 16, for instance).
    A confirmed account must be the one `signed_in`, so the link alone never signs anyone in.
    """
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("workspace")
        .filter(pk=invitation.pk, link_version=invitation.link_version)
        .first()
    )
    if invitation is None:
        raise ApplicationError("This invitation link no longer works.")
    user = User.objects.select_for_update().filter(email__iexact=invitation.email).first()
    if user is not None and user.email_confirmed:
        if signed_in is None or signed_in.pk != user.pk:
            raise NotAllowed(f"Log in as {invitation.email} to accept this invitation.")
    else:
        if not password:
            raise ApplicationError("Choose a password.", field="new_password1")
        if user is None:
            user = User.objects.create_user(email=invitation.email, password=password)
        else:
            user.set_password(password)
        user.email_confirmed_at = timezone.now()
        user.save()
    membership, _ = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
    )
    audit_record(
        workspace=invitation.workspace,
        actor=user,
        action="member.join",
        object_type="membership",
        object_id=str(membership.pk),
        object_repr=f"{user.email} as {membership.role}",
    )
    invitation.delete()
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, acting_user: Actor) -> Membership:
    acting = require_manager(workspace=membership.workspace, user=acting_user)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if role not in Role.values:
        raise ApplicationError("Unknown role.", field="role")
    if membership.role == Role.OWNER:
        raise NotAllowed("The owner's role changes only by transferring ownership.")
    if role == Role.OWNER:
        raise NotAllowed("Use Transfer ownership to make someone the owner.")
    if acting is not None and membership.pk == acting.pk and role != acting.role:
        # An admin demoting themselves would lock themselves out mid-page; make it explicit.
        raise NotAllowed("You cannot change your own role; ask the owner.")
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        workspace=membership.workspace,
        actor=acting_user,
        action="member.role",
        object_type="membership",
        object_repr=f"{membership.user.email}: {previous} → {role}",
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, acting_user: User) -> None:
    require_manager(workspace=membership.workspace, user=acting_user)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == Role.OWNER:
        raise NotAllowed("The owner cannot be removed; the owner may transfer ownership first.")
    if membership.user_id == acting_user.pk:
        raise NotAllowed("Use Leave workspace to remove yourself.")
    _membership_end(membership=membership, acting_user=acting_user, action="member.remove")


@transaction.atomic
def membership_save_by_operator(*, membership: Membership, acting_user: Actor) -> Membership:
    """The operator's add or change of a membership (Django admin), audited as on the Members
    page. No workspace role is asked for, and the one-owner rule is the database's. A
    membership moved to another person or workspace ends the previous one first (its API
    keys are revoked, as when a member is removed)."""
    before = None
    if membership.pk:
        before = (
            Membership.objects.select_for_update()
            .select_related("user", "workspace")
            .filter(pk=membership.pk)
            .first()
        )
    if before is not None and (before.user_id, before.workspace_id) != (
        membership.user_id,
        membership.workspace_id,
    ):
        audit_record(
            workspace=before.workspace,
            actor=acting_user,
            action="member.remove",
            object_type="membership",
            object_repr=before.user.email,
        )
        membership_ending_effects(
            workspace=before.workspace, user=before.user, acting_user=acting_user
        )
        before = None
    membership.save()
    email = membership.user.email
    if before is None:
        audit_record(
            workspace=membership.workspace,
            actor=acting_user,
            action="member.add",
            object_type="membership",
            object_id=str(membership.pk),
            object_repr=f"{email} as {membership.role}",
        )
    elif before.role != membership.role:
        audit_record(
            workspace=membership.workspace,
            actor=acting_user,
            action="member.role",
            object_type="membership",
            object_repr=f"{email}: {before.role} → {membership.role}",
        )
    return membership


@transaction.atomic
def workspace_save_by_operator(
    *, workspace: Workspace, acting_user: Actor, created: bool
) -> Workspace:
    """The operator's create or edit of a workspace (Django admin: name, slug, plan), audited.
    A rename goes through `workspace_rename`, so its rules are the page's."""
    if created:
        workspace.name = _clean_name(workspace.name)
        workspace.save()
        audit_record(
            workspace=workspace, actor=acting_user, action="workspace.create", target=workspace
        )
        return workspace
    before = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if workspace.name != before.name:
        workspace_rename(workspace=workspace, name=workspace.name, acting_user=acting_user)
    workspace.save()
    if workspace.plan_id != before.plan_id:
        audit_record(
            workspace=workspace,
            actor=acting_user,
            action="workspace.plan",
            target=workspace,
            details={"plan": str(workspace.plan) if workspace.plan else ""},
        )
    return workspace


@transaction.atomic
def membership_remove_by_operator(*, membership: Membership, acting_user: Actor) -> None:
    """The site operator's removal (Django admin): no workspace role is asked for, since
    the admin's own permissions decide; the person's API keys are revoked as on the page."""
    membership = Membership.objects.select_for_update().filter(pk=membership.pk).first()
    if membership is not None:
        _membership_end(membership=membership, acting_user=acting_user, action="member.remove")


def membership_ending_effects(
    *, workspace: Workspace, user: User, acting_user: Actor | None
) -> None:
    """End what `user` held in `workspace` (their API keys), whose membership ends or moves
    away: the apps that keep such things receive `signals.membership_ending`."""
    membership_ending.send(
        sender=Membership, workspace=workspace, user=user, acting_user=acting_user
    )


def _membership_end(*, membership: Membership, acting_user: Actor | None, action: str) -> None:
    """Every way out of a workspace ends here: audit, revoke the person's keys, delete."""
    audit_record(
        workspace=membership.workspace,
        actor=acting_user,
        action=action,
        object_type="membership",
        object_repr=membership.user.email,
    )
    membership_ending_effects(
        workspace=membership.workspace, user=membership.user, acting_user=acting_user
    )
    membership.delete()


@transaction.atomic
def membership_leave(*, workspace: Workspace, user: User) -> None:
    membership = _acting_membership(workspace=workspace, user=user, lock=True)
    if membership.role == Role.OWNER:
        raise NotAllowed("The owner cannot leave. Transfer ownership to another member first.")
    _membership_end(membership=membership, acting_user=user, action="member.leave")


@transaction.atomic
def ownership_transfer(
    *, workspace: Workspace, to_membership: Membership, acting_user: User
) -> None:
    """Make another member the owner; the previous owner becomes an admin."""
    acting = _acting_membership(workspace=workspace, user=acting_user, lock=True)
    if acting.role != Role.OWNER:
        raise NotAllowed("Only the owner can transfer ownership.")
    target = (
        Membership.objects.select_for_update()
        .filter(workspace=workspace, pk=to_membership.pk)
        .first()
    )
    if target is None:
        raise ApplicationError("That person is not a member of this workspace.")
    if target.pk == acting.pk:
        raise ApplicationError("You are already the owner.")
    # Demote first: the partial unique index allows one owner row at any instant.
    acting.role = Role.ADMIN
    acting.save(update_fields=["role"])
    target.role = Role.OWNER
    try:
        target.save(update_fields=["role"])
    except IntegrityError as exc:  # a concurrent transfer won the race
        raise ApplicationError("Ownership changed meanwhile; reload and try again.") from exc
    audit_record(
        workspace=workspace,
        actor=acting_user,
        action="workspace.transfer",
        object_type="membership",
        object_repr=f"owner → {target.user.email}",
    )


def audit_record(
    *,
    workspace: Workspace,
    actor: Actor | None,
    action: str,
    target: object | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    outcome: str = "success",
    details: dict | None = None,
) -> None:
    """Append to the workspace's audit log. Callers pass names and codes, never secrets.
    An `Operator` is recorded by how it acted, with the staff user in the Django admin."""
    from .models import AuditEntry

    user = actor_user(actor)
    AuditEntry.objects.create(
        workspace=workspace,
        actor=user if user is not None and user.pk else None,
        actor_email=getattr(user, "email", "") or "",
        operator=actor.name if isinstance(actor, Operator) else "",
        action=action,
        object_type=object_type or (type(target).__name__.lower() if target is not None else ""),
        object_id=object_id or str(getattr(target, "pk", "") or ""),
        object_repr=(object_repr or (str(target) if target is not None else ""))[:300],
        outcome=outcome,
        details=details or {},
    )
