"""Login, switching workspaces, and the Members and Workspace pages through the HTTP client."""

from __future__ import annotations

import json

from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, MembershipFactory, WorkspaceFactory
from workspaces.middleware import SESSION_KEY
from workspaces.models import Membership, Role

HX = {"HX-Request": "true"}


def toast(response) -> dict:
    return json.loads(response["HX-Trigger"])["toast"]


def test_login_with_email_and_password_lands_on_model_providers(members):
    client = Client()
    page = client.get(reverse("login"))
    assert b'<label class="form-label" for="id_username">Email address' in page.content
    response = client.post(
        reverse("login"), {"username": "admin@acme.test", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("provider-list")
    assert b"Acme" in response.content


def test_wrong_password_gets_a_message_and_no_session(members):
    client = Client()
    response = client.post(reverse("login"), {"username": "admin@acme.test", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct email address and password" in response.content
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post_and_ends_the_session(client_for):
    client = client_for("member")
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("provider-list")).status_code == 302


def test_a_user_in_two_workspaces_switches_and_the_choice_sticks(members, workspace):
    second = WorkspaceFactory(name="Beta Labs", slug="beta")
    MembershipFactory(workspace=second, user=members["member"].user, role=Role.ADMIN)
    client = Client()
    client.force_login(members["member"].user)

    page = client.get(reverse("provider-list")).content.decode()
    assert "Beta Labs" in page  # offered in the switcher
    response = client.post(reverse("workspace-switch"), {"workspace": "beta"})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == second.pk
    page = client.get(reverse("member-list")).content.decode()
    assert "Add member" in page  # admin in Beta, only a member in Acme
    client.post(reverse("workspace-switch"), {"workspace": "acme"})
    assert "Add member" not in client.get(reverse("member-list")).content.decode()


def test_switching_to_a_workspace_you_are_not_in_is_404(client_for, other_workspace):
    client = client_for("admin")
    response = client.post(reverse("workspace-switch"), {"workspace": "other"})
    assert response.status_code == 404
    assert client.session.get(SESSION_KEY) != other_workspace["workspace"].pk


def test_creating_a_workspace_switches_to_it_as_owner(client_for):
    client = client_for("member")
    response = client.post(reverse("workspace-create"), {"name": "Side Project"}, follow=True)
    assert response.status_code == 200
    membership = Membership.objects.get(workspace__name="Side Project")
    assert membership.role == Role.OWNER
    assert client.session[SESSION_KEY] == membership.workspace_id


def test_members_page_lists_everyone_with_roles(client_for):
    html = client_for("member").get(reverse("member-list")).content.decode()
    for role in Role:
        assert f"{role.value}@acme.test" in html
    assert "Add member" not in html and "Delete" not in html


def test_add_member_form_opens_as_a_modal_fragment(client_for):
    response = client_for("admin").get(reverse("member-create"), headers=HX)
    html = response.content.decode()
    assert "<html" not in html
    assert '<label class="form-label" for="id_email">' in html
    assert '<label class="form-label" for="id_role">' in html


def test_adding_an_existing_user_closes_the_modal_and_refreshes_the_list(client_for, workspace):
    other = MembershipFactory(user__email="known@else.test").user
    response = client_for("admin").post(
        reverse("member-create"), {"email": other.email, "role": "editor"}, headers=HX
    )
    assert response.status_code == 204
    trigger = json.loads(response["HX-Trigger"])
    assert "membersChanged" in trigger
    assert trigger["toast"]["message"] == "known@else.test added as editor."
    assert Membership.objects.get(workspace=workspace, user=other).role == Role.EDITOR


def test_invalid_member_form_comes_back_with_errors_and_changes_nothing(client_for, workspace):
    before = Membership.objects.count()
    response = client_for("admin").post(
        reverse("member-create"), {"email": "not-an-email", "role": "owner"}, headers=HX
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Enter a valid email address." in html
    assert "Select a valid choice." in html
    assert Membership.objects.count() == before


def test_adding_someone_twice_is_a_form_error(client_for):
    response = client_for("admin").post(
        reverse("member-create"), {"email": "editor@acme.test", "role": "admin"}, headers=HX
    )
    assert response.status_code == 422
    assert b"already a member of this workspace" in response.content


def test_changing_a_role_returns_the_updated_row(client_for, members):
    response = client_for("admin").post(
        reverse("member-update", args=[members["member"].pk]), {"role": "editor"}, headers=HX
    )
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="member-{members["member"].pk}"')
    assert '<option value="editor" selected>' in html
    assert toast(response)["level"] == "success"
    members["member"].refresh_from_db()
    assert members["member"].role == Role.EDITOR


def test_an_admin_changing_the_owner_gets_an_error_toast_and_nothing_changes(client_for, members):
    response = client_for("admin").post(
        reverse("member-update", args=[members["owner"].pk]), {"role": "member"}, headers=HX
    )
    assert toast(response)["level"] == "danger"
    members["owner"].refresh_from_db()
    assert members["owner"].role == Role.OWNER


def test_removing_a_member_confirms_first_then_deletes(client_for, members):
    client = client_for("admin")
    url = reverse("member-delete", args=[members["editor"].pk])
    confirm = client.get(url, headers=HX).content.decode()
    assert "Remove editor@acme.test?" in confirm and "lose access" in confirm
    assert Membership.objects.filter(pk=members["editor"].pk).exists()
    response = client.post(url, headers=HX)
    assert response.status_code == 204
    assert "membersChanged" in json.loads(response["HX-Trigger"])
    assert not Membership.objects.filter(pk=members["editor"].pk).exists()


def test_the_owner_row_cannot_be_deleted(client_for, members):
    response = client_for("admin").post(
        reverse("member-delete", args=[members["owner"].pk]), headers=HX
    )
    assert toast(response)["level"] == "danger"
    assert Membership.objects.filter(pk=members["owner"].pk).exists()


def test_member_list_refresh_returns_only_the_table(client_for):
    response = client_for("member").get(
        reverse("member-list"), headers={**HX, "HX-Target": "member-table"}
    )
    assert response.content.decode().lstrip().startswith('<div id="member-table"')


def test_members_read_workspace_settings_but_cannot_rename(client_for, workspace):
    client = client_for("member")
    page = client.get(reverse("workspace-update")).content.decode()
    assert "owner@acme.test" in page and 'name="name"' not in page
    assert client.post(reverse("workspace-update"), {"name": "Hijacked"}).status_code == 403
    workspace.refresh_from_db()
    assert workspace.name == "Acme"


def test_admin_renames_the_workspace(client_for, workspace):
    response = client_for("admin").post(reverse("workspace-update"), {"name": "Acme Corp"})
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.name == "Acme Corp"


def test_owner_transfers_ownership_from_the_settings_page(client_for, members):
    client = client_for("owner")
    page = client.get(reverse("workspace-update")).content.decode()
    assert "Transfer ownership" in page and "transfer ownership before you leave" in page
    client.post(reverse("workspace-transfer"), {"new_owner": members["editor"].pk})
    members["editor"].refresh_from_db()
    members["owner"].refresh_from_db()
    assert (members["editor"].role, members["owner"].role) == (Role.OWNER, Role.ADMIN)


def test_the_owner_cannot_leave_through_the_page(client_for, members):
    response = client_for("owner").post(reverse("workspace-leave"), follow=True)
    assert b"Transfer ownership to another member first" in response.content
    members["owner"].refresh_from_db()
    assert members["owner"].role == Role.OWNER


def test_a_member_leaves_and_lands_outside_the_workspace(client_for, members):
    client = client_for("member")
    response = client.post(reverse("workspace-leave"), follow=True)
    assert b"You left Acme" in response.content
    assert not Membership.objects.filter(pk=members["member"].pk).exists()


def test_names_are_escaped_everywhere(client_for, workspace):
    client_for("admin").post(reverse("workspace-update"), {"name": "<img src=x onerror=alert(1)>"})
    html = client_for("member").get(reverse("provider-list")).content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
