"""Role rules of DESIGN.md section 2 as the services enforce them, and the one-owner constraint."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tests.factories import MembershipFactory, UserFactory
from workspaces import services
from workspaces.exceptions import ApplicationError, NotAllowed
from workspaces.models import Membership, Role, User

SITE = "http://testserver/"


def roles(workspace) -> dict[str, str]:
    return dict(Membership.objects.filter(workspace=workspace).values_list("user__email", "role"))


def test_database_refuses_a_second_owner(members, workspace):
    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(workspace=workspace, role=Role.OWNER)


def test_database_refuses_turning_an_admin_into_a_second_owner(members, workspace):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(pk=members["admin"].pk).update(role=Role.OWNER)


def test_database_refuses_an_unknown_role(members):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(pk=members["member"].pk).update(role="superhero")


def test_each_workspace_has_its_own_owner(members, other_workspace):
    assert Membership.objects.filter(role=Role.OWNER).count() == 2


def test_creating_a_workspace_makes_the_creator_its_owner(db):
    user = UserFactory()
    workspace = services.workspace_create(name="  Research   Lab ", owner=user)
    assert workspace.name == "Research Lab"
    assert workspace.slug == "research-lab"
    assert roles(workspace) == {user.email: Role.OWNER}
    assert services.workspace_create(name="Research Lab", owner=user).slug == "research-lab-2"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bad\x07name"])
def test_workspace_names_are_checked(db, name):
    with pytest.raises(ApplicationError):
        services.workspace_create(name=name, owner=UserFactory())


@pytest.mark.parametrize("acting", ["owner", "admin"])
def test_owners_and_admins_add_existing_users(members, workspace, acting):
    person = UserFactory(email="new@acme.test")
    added = services.membership_add(
        workspace=workspace,
        email="NEW@acme.test",
        role="editor",
        acting_user=members[acting].user,
        base_url=SITE,
    )
    assert added.invitation is None
    assert roles(workspace)["new@acme.test"] == Role.EDITOR
    assert added.membership.user == person


def test_adding_an_unknown_email_invites_it_and_creates_no_account(members, workspace):
    added = services.membership_add(
        workspace=workspace,
        email="fresh@acme.test",
        role="member",
        acting_user=members["admin"].user,
        base_url=SITE,
    )
    assert added.membership is None and added.invitation.email == "fresh@acme.test"
    assert not User.objects.filter(email="fresh@acme.test").exists()
    assert "fresh@acme.test" not in roles(workspace)


@pytest.mark.parametrize("acting", ["editor", "member"])
def test_editors_and_members_cannot_add_members(members, workspace, acting):
    with pytest.raises(NotAllowed):
        services.membership_add(
            workspace=workspace,
            email="x@acme.test",
            role="member",
            acting_user=members[acting].user,
            base_url=SITE,
        )
    assert not User.objects.filter(email="x@acme.test").exists()


def test_nobody_is_added_as_a_second_owner(members, workspace):
    with pytest.raises(ApplicationError):
        services.membership_add(
            workspace=workspace,
            email="x@acme.test",
            role="owner",
            acting_user=members["owner"].user,
            base_url=SITE,
        )


def test_adding_someone_twice_is_refused(members, workspace):
    with pytest.raises(ApplicationError, match="already a member"):
        services.membership_add(
            workspace=workspace,
            email="editor@acme.test",
            role="admin",
            acting_user=members["owner"].user,
            base_url=SITE,
        )
    assert roles(workspace)["editor@acme.test"] == Role.EDITOR


def test_an_admin_of_another_workspace_cannot_add_members_here(members, workspace, other_workspace):
    with pytest.raises(NotAllowed):
        services.membership_add(
            workspace=workspace,
            email="x@acme.test",
            role="member",
            acting_user=other_workspace["admin"].user,
            base_url=SITE,
        )


@pytest.mark.parametrize("acting", ["owner", "admin"])
def test_owners_and_admins_change_roles(members, workspace, acting):
    services.membership_change_role(
        membership=members["member"], role="editor", acting_user=members[acting].user
    )
    assert roles(workspace)["member@acme.test"] == Role.EDITOR


def test_an_admin_cannot_change_the_owner(members, workspace):
    with pytest.raises(NotAllowed):
        services.membership_change_role(
            membership=members["owner"], role="member", acting_user=members["admin"].user
        )
    assert roles(workspace)["owner@acme.test"] == Role.OWNER


def test_roles_never_make_a_second_owner(members, workspace):
    with pytest.raises(NotAllowed):
        services.membership_change_role(
            membership=members["admin"], role="owner", acting_user=members["owner"].user
        )


@pytest.mark.parametrize("acting", ["editor", "member"])
def test_editors_and_members_cannot_change_roles(members, acting):
    with pytest.raises(NotAllowed):
        services.membership_change_role(
            membership=members["editor"], role="admin", acting_user=members[acting].user
        )


def test_owner_cannot_be_removed_even_by_an_admin(members, workspace):
    with pytest.raises(NotAllowed):
        services.membership_remove(membership=members["owner"], acting_user=members["admin"].user)
    assert roles(workspace)["owner@acme.test"] == Role.OWNER


def test_an_admin_removes_a_member(members, workspace):
    services.membership_remove(membership=members["member"], acting_user=members["admin"].user)
    assert "member@acme.test" not in roles(workspace)


def test_the_owner_cannot_leave(members, workspace):
    with pytest.raises(NotAllowed, match="Transfer ownership"):
        services.membership_leave(workspace=workspace, user=members["owner"].user)
    assert roles(workspace)["owner@acme.test"] == Role.OWNER


def test_a_member_can_leave(members, workspace):
    services.membership_leave(workspace=workspace, user=members["editor"].user)
    assert "editor@acme.test" not in roles(workspace)


def test_ownership_transfer_swaps_owner_and_keeps_exactly_one(members, workspace):
    services.ownership_transfer(
        workspace=workspace, to_membership=members["member"], acting_user=members["owner"].user
    )
    current = roles(workspace)
    assert current["member@acme.test"] == Role.OWNER
    assert current["owner@acme.test"] == Role.ADMIN
    assert list(current.values()).count(Role.OWNER) == 1
    # And the former owner may now leave.
    services.membership_leave(workspace=workspace, user=members["owner"].user)


def test_only_the_owner_transfers_ownership(members, workspace):
    with pytest.raises(NotAllowed):
        services.ownership_transfer(
            workspace=workspace, to_membership=members["editor"], acting_user=members["admin"].user
        )
    assert roles(workspace)["owner@acme.test"] == Role.OWNER


def test_ownership_cannot_go_to_someone_outside_the_workspace(members, workspace, other_workspace):
    with pytest.raises(ApplicationError):
        services.ownership_transfer(
            workspace=workspace,
            to_membership=other_workspace["admin"],
            acting_user=members["owner"].user,
        )
    assert roles(workspace)["owner@acme.test"] == Role.OWNER
