"""A key works only while its creator is a member: every way out of a workspace (Members page,
Leave workspace, the Django admin's membership pages, inline and bulk) revokes the person's keys
with an audit entry, authentication itself checks the membership, and a data migration revoked
the keys of people who had already left."""

from __future__ import annotations

import importlib
import time

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.urls import reverse

from api_keys.models import ApiKey
from api_keys.services import api_key_create
from tests.factories import MembershipFactory, UserFactory
from workspaces.models import AuditEntry, Membership

HX = {"HX-Request": "true"}


@pytest.fixture
def operator_client(db):
    client = Client()
    client.force_login(UserFactory(email="operator@site.test", is_staff=True, is_superuser=True))
    return client


def _works(client, bearer) -> bool:
    status = client.get("/v1/models", headers=bearer).status_code
    assert status in (200, 401), status
    return status == 200


def _assert_revoked_and_audited(api_key) -> None:
    key = ApiKey.objects.get(pk=api_key.api_key.pk)
    assert key.revoked_at is not None, "the key is still listed as active"
    entry = AuditEntry.objects.filter(action="api_key.revoke", object_id=str(key.pk)).get()
    assert entry.details.get("reason") == "membership ended"


def test_removing_a_member_on_the_members_page_stops_their_keys_at_once(
    client, client_for, members, api_key, bearer, openai_key
):
    assert _works(client, bearer)  # cached by this process now
    response = client_for("owner").post(
        reverse("member-delete", args=[members["member"].pk]), headers=HX
    )
    assert response.status_code == 204
    assert not _works(client, bearer)
    _assert_revoked_and_audited(api_key)
    listing = client_for("owner").get(reverse("api-key-list")).content.decode()
    assert "Revoked" in listing


def test_the_removal_dialog_lists_the_keys_that_will_stop_working(client_for, members, api_key):
    api_key_create(
        workspace=members["admin"].workspace, name="billing job", acting_user=members["admin"].user
    )
    html = (
        client_for("owner")
        .get(reverse("member-delete", args=[members["member"].pk]), headers=HX)
        .content.decode()
    )
    assert "app" in html and api_key.api_key.prefix in html
    assert "billing job" not in html  # the admin's key is not the member's
    assert "stop working" in html


def test_leaving_the_workspace_stops_ones_keys(client, client_for, api_key, bearer, openai_key):
    assert _works(client, bearer)
    client_for("member").post(reverse("workspace-leave"))
    assert not Membership.objects.filter(user__email="member@acme.test").exists()
    assert not _works(client, bearer)
    _assert_revoked_and_audited(api_key)


def test_deleting_a_membership_in_the_django_admin_stops_its_keys(
    client, operator_client, members, api_key, bearer, openai_key
):
    assert _works(client, bearer)
    url = reverse("admin:workspaces_membership_delete", args=[members["member"].pk])
    response = operator_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not _works(client, bearer)
    _assert_revoked_and_audited(api_key)


def test_bulk_deleting_memberships_in_the_django_admin_stops_their_keys(
    client, operator_client, members, api_key, bearer, openai_key
):
    assert _works(client, bearer)
    response = operator_client.post(
        reverse("admin:workspaces_membership_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [members["member"].pk, members["editor"].pk],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=members["member"].pk).exists()
    assert not _works(client, bearer)
    _assert_revoked_and_audited(api_key)


def test_deleting_a_member_inline_on_the_admin_workspace_page_stops_their_keys(
    client, operator_client, workspace, members, api_key, bearer, openai_key
):
    assert _works(client, bearer)
    rows = list(Membership.objects.filter(workspace=workspace))
    data = {
        "name": workspace.name,
        "slug": workspace.slug,
        "plan": "",
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(len(rows)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        prefix = f"memberships-{index}-"
        data |= {
            prefix + "id": str(row.pk),
            prefix + "workspace": str(workspace.pk),
            prefix + "user": str(row.user_id),
            prefix + "role": row.role,
        }
        if row.pk == members["member"].pk:
            data[prefix + "DELETE"] = "on"
    response = operator_client.post(
        reverse("admin:workspaces_workspace_change", args=[workspace.pk]), data
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Membership.objects.filter(pk=members["member"].pk).exists()
    assert not _works(client, bearer)
    _assert_revoked_and_audited(api_key)


def test_a_key_whose_creator_is_no_longer_a_member_is_refused(
    client, members, api_key, bearer, openai_key
):
    """However the membership went (here a bare queryset delete no service saw), the key
    itself stops: authentication checks the creator's membership."""
    Membership.objects.filter(pk=members["member"].pk).delete()
    assert not _works(client, bearer)


def test_a_key_whose_creator_was_deleted_is_refused(client, members, api_key, bearer, openai_key):
    members["member"].user.delete()
    assert not _works(client, bearer)


def test_a_key_from_the_operators_command_keeps_working(client, workspace, openai_key):
    new = api_key_create(workspace=workspace, name="ops", acting_user=None)
    assert _works(client, {"Authorization": f"Bearer {new.secret}"})


def test_a_revocation_by_another_process_takes_effect_within_the_cache_lifetime(
    client, settings, members, api_key, bearer, openai_key
):
    settings.API_KEY_CACHE_SECONDS = 0.5
    assert _works(client, bearer)  # cached by this process
    # Another process removes the member: only the database changes under this process.
    Membership.objects.filter(pk=members["member"].pk).delete()
    time.sleep(0.6)
    assert not _works(client, bearer)


def test_the_migration_revokes_the_keys_of_people_who_already_left(workspace, members):
    still_member = api_key_create(
        workspace=workspace, name="stays", acting_user=members["editor"].user
    ).api_key
    left = api_key_create(workspace=workspace, name="left", acting_user=members["member"].user)
    Membership.objects.filter(pk=members["member"].pk).delete()  # removed before the fix
    operator = api_key_create(workspace=workspace, name="ops", acting_user=None).api_key
    gone_user = MembershipFactory(workspace=workspace, user__email="gone@acme.test").user
    gone = api_key_create(workspace=workspace, name="gone", acting_user=gone_user).api_key
    gone_user.delete()
    ApiKey.objects.update(created_by_operator=False)  # as every row was before the migration

    name = ("gateway", "0005_revoke_keys_of_former_members")
    migration = importlib.import_module("gateway.migrations." + name[1])
    # The models as they were at that migration (API keys have moved to another app since),
    # beside every other app's models as they are now.
    loader = MigrationLoader(connection)
    moved = ("gateway", "api_keys", "invocation")
    nodes = [node for node in loader.graph.leaf_nodes() if node[0] not in moved]
    state_apps = loader.project_state([*nodes, name]).apps
    migration.revoke_keys_of_former_members(state_apps, None)

    revoked = set(ApiKey.objects.filter(revoked_at__isnull=False).values_list("pk", flat=True))
    assert revoked == {left.api_key.pk, gone.pk}
    assert ApiKey.objects.get(pk=operator.pk).created_by_operator
    assert ApiKey.objects.get(pk=still_member.pk).revoked_at is None
    assert AuditEntry.objects.filter(action="api_key.revoke").count() == 2
