"""`manage.py seed_demo` creates the demo workspace and its four users, idempotently."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError

from workspaces.models import Membership, Role, User, Workspace

DEMO = {
    "owner@demo.test": Role.OWNER,
    "admin@demo.test": Role.ADMIN,
    "editor@demo.test": Role.EDITOR,
    "member@demo.test": Role.MEMBER,
}


def demo_roles() -> dict[str, str]:
    return dict(
        Membership.objects.filter(workspace__slug="demo").values_list("user__email", "role")
    )


def test_seed_demo_creates_the_demo_workspace_with_four_roles(db):
    call_command("seed_demo", "--password", "pass-one-123")
    workspace = Workspace.objects.get(slug="demo")
    assert workspace.name == "Demo"
    assert demo_roles() == DEMO
    for email in DEMO:
        assert authenticate(username=email, password="pass-one-123") is not None


def test_seed_demo_run_twice_changes_nothing_but_the_password(db):
    call_command("seed_demo", "--password", "pass-one-123")
    call_command("seed_demo", "--password", "pass-two-456")
    assert Workspace.objects.filter(slug="demo").count() == 1
    assert User.objects.filter(email__in=DEMO).count() == 4
    assert Membership.objects.filter(workspace__slug="demo").count() == 4
    assert demo_roles() == DEMO
    assert authenticate(username="member@demo.test", password="pass-two-456") is not None
    assert authenticate(username="member@demo.test", password="pass-one-123") is None


def test_seed_demo_repairs_drifted_roles_without_breaking_the_one_owner_rule(db):
    call_command("seed_demo", "--password", "pass-one-123")
    demo = Workspace.objects.get(slug="demo")
    Membership.objects.filter(workspace=demo).update(role=Role.MEMBER)
    Membership.objects.filter(workspace=demo, user__email="admin@demo.test").update(role=Role.OWNER)
    call_command("seed_demo", "--password", "pass-one-123")
    assert demo_roles() == DEMO


def test_seed_demo_staff_flag_opens_the_admin_to_the_owner(db):
    call_command("seed_demo", "--password", "pass-one-123", "--staff")
    assert User.objects.get(email="owner@demo.test").is_staff
    assert not User.objects.get(email="member@demo.test").is_staff


def test_seed_demo_refuses_a_short_password(db):
    with pytest.raises(CommandError, match="at least 8 characters"):
        call_command("seed_demo", "--password", "short")
    assert not Workspace.objects.filter(slug="demo").exists()
