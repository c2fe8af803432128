"""Every API key belongs to one environment: the create form offers the environments the person
may create keys in (the default one first), the list shows each key's, members are refused in
environments not opened to them, and `create_api_key --environment` chooses one."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from api_keys.models import ApiKey
from workspaces.services import default_environment, environment_create, environment_update

HX = {"HX-Request": "true"}


@pytest.fixture
def environments(workspace, members):
    """Production (open to members), Development (open) and Staging (closed)."""
    owner = members["owner"].user
    production = default_environment(workspace)
    development = environment_create(
        workspace=workspace, name="Development", members_create_keys=True, acting_user=owner
    )
    staging = environment_create(workspace=workspace, name="Staging", acting_user=owner)
    return {"Production": production, "Development": development, "Staging": staging}


def options(html: str) -> list[str]:
    select = html.split('name="environment"', 1)[1].split("</select>", 1)[0]
    return [part.split(">", 1)[1].split("<", 1)[0] for part in select.split("<option")[1:]]


def test_the_form_offers_a_member_only_the_environments_open_to_members(client_for, environments):
    html = client_for("member").get(reverse("api-key-create"), headers=HX).content.decode()
    assert options(html) == ["Production", "Development"]
    assert f'value="{environments["Production"].pk}" selected' in html
    admin_html = client_for("admin").get(reverse("api-key-create"), headers=HX).content.decode()
    assert options(admin_html) == ["Production", "Development", "Staging"]


def test_a_key_is_created_in_the_chosen_environment(client_for, environments):
    development = environments["Development"]
    response = client_for("member").post(
        reverse("api-key-create"), {"name": "bot", "environment": development.pk}, headers=HX
    )
    assert response.status_code == 200
    assert ApiKey.objects.get(name="bot").environment == development


def test_a_forged_post_into_a_closed_environment_is_refused_and_creates_nothing(
    client_for, environments
):
    response = client_for("member").post(
        reverse("api-key-create"),
        {"name": "sneaky", "environment": environments["Staging"].pk},
        headers=HX,
    )
    assert response.status_code == 422
    assert "Only owners and admins create keys in Staging" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_an_admin_creates_a_key_in_a_closed_environment(client_for, environments):
    staging = environments["Staging"]
    client_for("admin").post(
        reverse("api-key-create"), {"name": "ops", "environment": staging.pk}, headers=HX
    )
    assert ApiKey.objects.get(name="ops").environment == staging


def test_another_workspaces_environment_is_refused(client_for, environments, other_workspace):
    theirs = default_environment(other_workspace["workspace"])
    response = client_for("admin").post(
        reverse("api-key-create"), {"name": "x", "environment": theirs.pk}, headers=HX
    )
    assert response.status_code == 422
    assert not ApiKey.objects.exists()


def test_with_one_environment_the_choice_is_hidden_and_the_key_goes_there(client_for, workspace):
    html = client_for("member").get(reverse("api-key-create"), headers=HX).content.decode()
    assert "<select" not in html and 'type="hidden" name="environment"' in html
    client_for("member").post(
        reverse("api-key-create"),
        {"name": "bot", "environment": default_environment(workspace).pk},
        headers=HX,
    )
    assert ApiKey.objects.get(name="bot").environment == default_environment(workspace)


def test_a_member_with_no_open_environment_is_told_so(client_for, workspace, members):
    environment_update(
        environment=default_environment(workspace),
        members_create_keys=False,
        acting_user=members["owner"].user,
    )
    html = client_for("member").get(reverse("api-key-create"), headers=HX).content.decode()
    assert "No environment is open to members" in html
    response = client_for("member").post(
        reverse("api-key-create"),
        {"name": "bot", "environment": default_environment(workspace).pk},
        headers=HX,
    )
    assert response.status_code == 422 and not ApiKey.objects.exists()


def test_the_list_shows_each_keys_environment(client_for, environments, members):
    from api_keys.services import api_key_create

    api_key_create(
        workspace=environments["Staging"].workspace,
        name="ops",
        acting_user=members["admin"].user,
        environment=environments["Staging"],
    )
    html = client_for("admin").get(reverse("api-key-list")).content.decode()
    row = html.split(">ops<", 1)[1].split("</tr>", 1)[0]
    assert "Staging" in row
    assert '<th scope="col">Environment</th>' in html
    fragment = client_for("admin").get(reverse("api-key-list"), headers=HX).content.decode()
    assert "Staging" in fragment


def test_the_command_creates_a_key_in_the_named_environment(workspace, environments):
    out = io.StringIO()
    call_command(
        "create_api_key", workspace="acme", name="ci", environment="development", stdout=out
    )
    assert ApiKey.objects.get(name="ci").environment == environments["Development"]
    call_command("create_api_key", workspace="acme", name="default", stdout=io.StringIO())
    assert ApiKey.objects.get(name="default").environment == environments["Production"]


def test_the_command_names_the_environments_when_one_is_unknown(workspace, environments):
    with pytest.raises(CommandError, match="Development, Production, Staging|has:"):
        call_command("create_api_key", workspace="acme", name="ci", environment="Prod")
    assert not ApiKey.objects.exists()
