"""Workspace API keys: created by any member (shown once, stored hashed), listed by role,
revoked by their creator or a manager, and enforced on every /v1/ request."""

from __future__ import annotations

import hashlib
import io

from django.core.management import call_command
from django.urls import reverse

from api_keys.models import ApiKey

HX = {"HX-Request": "true"}


def test_a_member_creates_a_key_that_is_shown_once_and_stored_hashed(client_for, workspace):
    response = client_for("member").post(reverse("api-key-create"), {"name": "bot"}, headers=HX)
    html = response.content.decode()
    key = ApiKey.objects.get(name="bot")
    secret = html.split('id="new-api-key" value="')[1].split('"')[0]
    assert secret.startswith("mck_") and len(secret) > 40
    assert response["Cache-Control"] == "no-store"
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(list(ApiKey.objects.values()))
    listing = client_for("member").get(reverse("api-key-list")).content.decode()
    assert key.prefix in listing and secret not in listing


def test_a_key_needs_a_name(client_for, workspace):
    response = client_for("member").post(reverse("api-key-create"), {"name": "  "}, headers=HX)
    assert response.status_code == 422
    assert not ApiKey.objects.exists()


def test_members_see_their_own_keys_and_managers_see_all(client_for, api_key, members):
    from api_keys.services import api_key_create

    api_key_create(
        workspace=api_key.api_key.workspace, name="admins", acting_user=members["admin"].user
    )
    member_page = client_for("member").get(reverse("api-key-list")).content.decode()
    admin_page = client_for("admin").get(reverse("api-key-list")).content.decode()
    editor_page = client_for("editor").get(reverse("api-key-list")).content.decode()
    assert "app" in member_page and "admins" not in member_page
    assert "app" in admin_page and "admins" in admin_page
    assert "No API keys yet" in editor_page


def test_a_revoked_key_gets_401_in_openais_shape(client, client_for, bearer, api_key, openai_key):
    assert client.get("/v1/models", headers=bearer).status_code == 200
    url = reverse("api-key-revoke", args=[api_key.api_key.pk])
    assert client_for("editor").post(url, headers=HX).status_code == 403  # not theirs
    assert client_for("member").post(url, headers=HX).status_code == 204
    response = client.get("/v1/models", headers=bearer)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_an_admin_revokes_any_key(client_for, api_key):
    url = reverse("api-key-revoke", args=[api_key.api_key.pk])
    assert client_for("admin").post(url, headers=HX).status_code == 204
    assert ApiKey.objects.get().revoked_at is not None


def test_unknown_missing_and_malformed_keys_get_401(client, openai_key):
    for headers in ({}, {"Authorization": "Bearer mck_nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/v1/models", headers=headers)
        assert response.status_code == 401
        assert "Bearer" in response.json()["error"]["message"]


def test_last_used_is_kept(client, bearer, api_key, openai_key):
    assert ApiKey.objects.get().last_used_at is None
    client.get("/v1/models", headers=bearer)
    assert ApiKey.objects.get().last_used_at is not None


def test_the_management_command_prints_a_working_key(client, workspace, openai_key):
    out = io.StringIO()
    call_command("create_api_key", workspace="acme", name="ci", stdout=out)
    secret = out.getvalue().strip()
    response = client.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200


def test_a_key_of_another_workspace_sees_only_that_workspace(client, other_workspace, openai_key):
    from api_keys.services import api_key_create

    other = api_key_create(
        workspace=other_workspace["workspace"],
        name="x",
        acting_user=other_workspace["owner"].user,
    )
    response = client.get("/v1/models", headers={"Authorization": f"Bearer {other.secret}"})
    assert response.json()["data"] == []  # Other has no credentials; Acme's stay invisible
