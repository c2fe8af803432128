"""The Django admin shows users, workspaces and memberships with search and filters."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory


@pytest.fixture
def operator_client(db):
    client = Client()
    client.force_login(UserFactory(email="operator@site.test", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    ("model", "query", "expected"),
    [
        ("workspace", "acme", "Acme"),
        ("membership", "editor@acme", "editor@acme.test"),
        ("user", "owner@acme", "owner@acme.test"),
    ],
)
def test_admin_changelists_search(operator_client, members, model, query, expected):
    url = reverse(f"admin:workspaces_{model}_changelist")
    response = operator_client.get(url, {"q": query})
    assert response.status_code == 200
    assert expected in response.content.decode()


def test_admin_filters_memberships_by_role(operator_client, members):
    url = reverse("admin:workspaces_membership_changelist")
    html = operator_client.get(url, {"role__exact": "editor"}).content.decode()
    assert "editor@acme.test" in html and "member@acme.test" not in html


def test_admin_workspace_page_lists_its_members(operator_client, workspace, members):
    html = operator_client.get(
        reverse("admin:workspaces_workspace_change", args=[workspace.pk])
    ).content.decode()
    assert "owner@acme.test" in html or f'value="{members["owner"].user_id}"' in html


def test_workspace_roles_do_not_open_the_admin(client_for):
    response = client_for("owner").get(reverse("admin:index"))
    assert response.status_code == 302


def test_a_membership_added_in_the_admin_is_in_the_audit_log_with_the_staff_user(
    operator_client, workspace, members, client_for
):
    from tests.factories import UserFactory
    from workspaces.models import AuditEntry, Membership

    newcomer = UserFactory(email="newcomer@acme.test")
    response = operator_client.post(
        reverse("admin:workspaces_membership_add"),
        {"user": newcomer.pk, "workspace": workspace.pk, "role": "editor"},
    )

    assert response.status_code == 302
    assert Membership.objects.filter(workspace=workspace, user=newcomer, role="editor").exists()
    entry = AuditEntry.objects.get(workspace=workspace, action="member.add")
    assert entry.actor_email == "operator@site.test"
    html = client_for("owner").get(reverse("audit-log")).content.decode()
    assert "operator@site.test" in html and "Django admin" in html
