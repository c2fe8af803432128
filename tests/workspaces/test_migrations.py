"""The data migration of issue 16: which existing accounts count as unconfirmed, and what
becomes of the memberships the old invitation flow left pending."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("workspaces", "0005_invitations")]
AFTER = [("workspaces", "0006_invitations_from_unconfirmed_accounts")]


@pytest.fixture
def at_0005(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    call_command("migrate", verbosity=0)  # back to the newest schema for the next tests


def migrate_forward():
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    return executor.loader.project_state(AFTER).apps


def test_old_invitations_become_pending_and_no_account_counts_as_confirmed(at_0005):
    User = at_0005.get_model("workspaces", "User")
    Workspace = at_0005.get_model("workspaces", "Workspace")
    Membership = at_0005.get_model("workspaces", "Membership")
    acme = Workspace.objects.create(name="Acme", slug="acme")
    owner = User.objects.create(email="owner@acme.test", password="pbkdf2_sha256$1$x$y")
    # Chose a password through a link the inviter saw: indistinguishable, so unconfirmed.
    through_link = User.objects.create(email="joined@acme.test", password="pbkdf2_sha256$1$x$z")
    placeholder = User.objects.create(email="waiting@acme.test", password="!unusable")
    operator = User.objects.create(
        email="root@acme.test", password="pbkdf2_sha256$1$x$w", is_superuser=True, is_staff=True
    )
    Membership.objects.create(workspace=acme, user=owner, role="owner")
    Membership.objects.create(workspace=acme, user=through_link, role="admin")
    Membership.objects.create(workspace=acme, user=placeholder, role="editor")

    apps = migrate_forward()
    User = apps.get_model("workspaces", "User")
    Membership = apps.get_model("workspaces", "Membership")
    Invitation = apps.get_model("workspaces", "Invitation")

    confirmed = set(User.objects.filter(email_confirmed_at__isnull=False).values_list("email"))
    assert confirmed == {(operator.email,)}
    assert set(Membership.objects.values_list("user__email", "role")) == {
        ("owner@acme.test", "owner"),
        ("joined@acme.test", "admin"),  # existing memberships stay
    }
    [pending] = Invitation.objects.all()
    assert (pending.workspace_id, pending.email, pending.role) == (
        acme.pk,
        "waiting@acme.test",
        "editor",
    )
    assert pending.sent_at is None  # the members page offers Resend
