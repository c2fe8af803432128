"""Settings → Environments (issue 24): the list, the table of what each environment uses and
its in-place pins, as owners, admins, editors and members see them; the Load balancing page of
an environment's own pool; environments on the provider page and its delete confirmation."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from api_keys.services import api_key_create
from balancing.models import Pin, Pool
from balancing.services import ModelRef, pin_set, pool_entry_add
from tests.factories import CredentialFactory, CustomModelFactory
from workspaces.models import AuditEntry, Environment
from workspaces.services import default_environment, environment_create

HX = {"HX-Request": "true"}
GPT_4O = ModelRef("openai", "gpt-4o", "llm")


def events(response) -> dict:
    return json.loads(response.get("HX-Trigger", "{}"))


def toast(response) -> str:
    return events(response).get("toast", {}).get("message", "")


@pytest.fixture
def setup(workspace, members):
    """Production (the default) and Development; two OpenAI credentials, Main the default;
    Development pins Backup for OpenAI."""
    owner = members["owner"].user
    main = CredentialFactory(workspace=workspace, name="Main", is_default=True)
    backup = CredentialFactory(workspace=workspace, name="Backup")
    production = default_environment(workspace)
    development = environment_create(workspace=workspace, name="Development", acting_user=owner)
    pin_set(environment=development, provider="openai", credential=backup, acting_user=owner)
    return {
        "owner": owner,
        "main": main,
        "backup": backup,
        "production": production,
        "development": development,
    }


# -- the page, by role -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_see_every_environment_and_can_change_them(client_for, setup, role):
    html = client_for(role).get(reverse("environment-list")).content.decode()
    assert "Production" in html and "Development" in html
    assert "Default</span>" in html
    assert "Add environment" in html and "Pin a model" in html
    assert reverse("environment-update", args=[setup["development"].pk]) in html
    assert reverse("environment-delete", args=[setup["development"].pk]) in html
    # The default environment has no Delete.
    assert reverse("environment-delete", args=[setup["production"].pk]) not in html
    assert reverse("environment-keys", args=[setup["production"].pk]) in html
    assert reverse("environment-pin", args=[setup["development"].pk]) in html
    assert "Follow the default" in html
    assert (
        "Shared by all environments: <a" in html
        and "the system-provider preference and plan quotas" in html
    )


@pytest.mark.parametrize("role", ["editor", "member"])
def test_editors_and_members_read_the_page_without_forms_or_buttons(client_for, setup, role):
    response = client_for(role).get(reverse("environment-list"))
    assert response.status_code == 200
    html = response.content.decode()
    main = html[html.index('id="main"') :]
    assert "<form" not in main and "<select" not in main and "<button" not in main
    assert "Add environment" not in html and "Pin a model" not in html
    assert "Rename" not in main and "Delete" not in main
    # What each environment uses, in words.
    assert 'Pinned</span> <span class="text-break">Backup' in html
    assert 'Default</span> <span class="text-break">Main' in html
    assert "Members may create keys" in html and "Owners and admins only" in html


@pytest.mark.parametrize("role", ["editor", "member"])
def test_the_server_refuses_their_changes(client_for, setup, role):
    client = client_for(role)
    development = setup["development"]
    posts = [
        (reverse("environment-create"), {"name": "Staging"}),
        (reverse("environment-update", args=[development.pk]), {"name": "Dev"}),
        (reverse("environment-keys", args=[development.pk]), {"members_create_keys": "on"}),
        (reverse("environment-delete", args=[development.pk]), {}),
        (
            reverse("environment-pin", args=[development.pk]),
            {"provider": "openai", "credential": ""},
        ),
    ]
    for url, data in posts:
        assert client.post(url, data, headers=HX).status_code == 403, url
    development.refresh_from_db()
    assert development.name == "Development" and not development.members_create_keys
    assert Environment.objects.filter(name="Staging").count() == 0
    assert Pin.objects.get(environment=development).credential == setup["backup"]


def test_the_list_and_the_table_refresh_as_fragments(client_for, setup):
    client = client_for("owner")
    for target in ("environment-table", "pin-table"):
        response = client.get(reverse("environment-list"), headers={**HX, "HX-Target": target})
        html = response.content.decode()
        assert "<html" not in html
        assert html.lstrip().startswith(f'<div id="{target}"')


def test_a_workspace_without_credentials_says_so(client_for, workspace):
    html = client_for("owner").get(reverse("environment-list")).content.decode()
    assert "Production" in html
    assert "No providers configured yet" in html


def test_another_workspaces_environment_is_404(client, other_workspace, setup):
    client.force_login(other_workspace["admin"].user)
    development = setup["development"]
    for name in ("environment-update", "environment-delete"):
        assert client.get(reverse(name, args=[development.pk])).status_code == 404
    for name in ("environment-keys", "environment-pin", "environment-delete"):
        assert client.post(reverse(name, args=[development.pk]), headers=HX).status_code == 404
    assert Environment.objects.filter(pk=development.pk).exists()


# -- add, rename, open, delete ---------------------------------------------------------------


def test_adding_an_environment(client_for, setup, workspace):
    client = client_for("admin")
    form = client.get(reverse("environment-create"), headers=HX).content.decode()
    assert "<label" in form and "Members may create keys" in form and "Save" in form
    response = client.post(
        reverse("environment-create"),
        {"name": "  Staging  ", "members_create_keys": "on"},
        headers=HX,
    )
    assert response.status_code == 204
    assert "environmentsChanged" in events(response) and "closeModal" in events(response)
    assert "Staging added" in toast(response)
    staging = Environment.objects.get(workspace=workspace, name="Staging")
    assert staging.members_create_keys and not staging.is_default
    assert AuditEntry.objects.filter(action="environment.create", object_repr="Staging").exists()


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "This field is required"),
        ("   ", "This field is required"),
        ("development", "already has an environment named development"),
        ("x" * 61, "at most 60 characters"),
    ],
)
def test_a_bad_name_adds_nothing_and_says_why(client_for, setup, workspace, name, says):
    response = client_for("owner").post(reverse("environment-create"), {"name": name}, headers=HX)
    assert response.status_code == 422
    assert says in response.content.decode()
    assert Environment.objects.filter(workspace=workspace).count() == 2


def test_renaming_changes_nothing_else(client_for, setup):
    development = setup["development"]
    key = api_key_create(
        workspace=development.workspace,
        name="ci",
        acting_user=setup["owner"],
        environment=development,
    )
    client = client_for("owner")
    url = reverse("environment-update", args=[development.pk])
    assert 'value="Development"' in client.get(url, headers=HX).content.decode()
    response = client.post(url, {"name": "Dev"}, headers=HX)
    assert response.status_code == 204
    assert toast(response) == "Development is now named Dev."
    development.refresh_from_db()
    assert development.name == "Dev"
    key.api_key.refresh_from_db()
    assert key.api_key.environment_id == development.pk and key.api_key.is_active
    assert Pin.objects.get(environment=development).credential == setup["backup"]
    # Renaming to another environment's name is refused, and says so.
    response = client.post(url, {"name": "production"}, headers=HX)
    assert response.status_code == 422
    assert "already has an environment named production" in response.content.decode()
    development.refresh_from_db()
    assert development.name == "Dev"


def test_opening_and_closing_an_environment_to_members_keys(client_for, setup):
    client = client_for("owner")
    development = setup["development"]
    url = reverse("environment-keys", args=[development.pk])
    response = client.post(url, {"members_create_keys": "on"}, headers=HX)
    assert response.status_code == 204
    assert toast(response) == "Members may create keys in Development."
    development.refresh_from_db()
    assert development.members_create_keys
    response = client.post(url, {}, headers=HX)
    assert "Only owners and admins create keys in Development" in toast(response)
    development.refresh_from_db()
    assert not development.members_create_keys
    assert AuditEntry.objects.filter(action="environment.keys").count() == 2
    # Without JavaScript: the form posts, the page comes back with the message.
    response = client.post(url, {"members_create_keys": "on"})
    assert response.status_code == 302 and response["Location"] == reverse("environment-list")


def test_deleting_asks_first_and_names_the_keys_it_revokes(client_for, setup):
    development = setup["development"]
    workspace = development.workspace
    keys = [
        api_key_create(
            workspace=workspace, name=name, acting_user=setup["owner"], environment=development
        ).api_key
        for name in ("ci", "staging bot")
    ]
    client = client_for("owner")
    url = reverse("environment-delete", args=[development.pk])
    confirm = client.get(url, headers=HX).content.decode()
    assert "Delete Development?" in confirm
    assert "These API keys are revoked" in confirm
    for key in keys:
        assert f"API key “{key.name}” ({key.prefix}…)" in confirm
    response = client.post(url, headers=HX)
    assert response.status_code == 204
    message = toast(response)
    assert message.startswith("Development deleted. Revoked: ")
    assert "“ci”" in message and "“staging bot”" in message
    assert events(response)["toast"]["level"] == "warning"
    assert not Environment.objects.filter(pk=development.pk).exists()
    for key in keys:
        key.refresh_from_db()
        assert not key.is_active
    assert not Pin.objects.filter(workspace=workspace).exists()


def test_deleting_an_environment_without_keys_says_it_has_none(client_for, setup):
    confirm = (
        client_for("owner")
        .get(reverse("environment-delete", args=[setup["development"].pk]), headers=HX)
        .content.decode()
    )
    assert "It has no active API keys." in confirm


def test_the_default_environment_cannot_be_deleted(client_for, setup):
    production = setup["production"]
    client = client_for("owner")
    url = reverse("environment-delete", args=[production.pk])
    confirm = client.get(url, headers=HX).content.decode()
    assert "Production cannot be deleted" in confirm
    assert 'type="submit"' not in confirm
    response = client.post(url, headers=HX)
    assert response.status_code == 204
    assert toast(response) == "Production is the default environment: it cannot be deleted."
    assert events(response)["toast"]["level"] == "danger"
    assert "environmentsChanged" not in events(response)
    assert Environment.objects.filter(pk=production.pk).exists()


# -- pins, in place ---------------------------------------------------------------------------


def test_a_cell_pins_a_credential_and_the_table_re_renders(client_for, setup):
    production = setup["production"]
    client = client_for("admin")
    response = client.post(
        reverse("environment-pin", args=[production.pk]),
        {"provider": "openai", "credential": setup["backup"].pk},
        headers=HX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="pin-table"') and "<html" not in html
    assert toast(response) == "Production now uses “Backup” for OpenAI."
    pin = Pin.objects.get(environment=production)
    assert pin.credential == setup["backup"] and pin.model_name == ""
    entry = AuditEntry.objects.get(action="environment.pin", object_id=str(production.pk))
    assert entry.object_repr == "openai"
    assert entry.details == {"environment": "Production", "credential": "Backup"}
    assert entry.actor.email == "admin@acme.test"


def test_follow_the_default_removes_the_pin(client_for, setup):
    development = setup["development"]
    response = client_for("owner").post(
        reverse("environment-pin", args=[development.pk]),
        {"provider": "openai", "credential": ""},
        headers=HX,
    )
    assert response.status_code == 200
    assert toast(response) == "Development follows the default for OpenAI again."
    assert not Pin.objects.filter(environment=development).exists()
    entry = AuditEntry.objects.get(action="environment.unpin")
    assert entry.details["before"] == "Backup"
    assert 'Default</span> <span class="text-break">Main' in response.content.decode()


def test_a_model_cell_pins_one_model(client_for, setup):
    production = setup["production"]
    response = client_for("owner").post(
        reverse("environment-pin", args=[production.pk]),
        {"provider": "openai", "model": "gpt-4o", "type": "llm", "credential": setup["backup"].pk},
        headers=HX,
    )
    assert response.status_code == 200
    pin = Pin.objects.get(environment=production)
    assert (pin.model_name, pin.model_type, pin.credential) == ("gpt-4o", "llm", setup["backup"])
    html = response.content.decode()
    assert ">gpt-4o</span>" in html  # the model has its own row now


@pytest.mark.parametrize(
    ("credential", "says"),
    [
        ("other-provider", "cannot serve this model"),
        ("other-workspace", "not one of this workspace's"),
        ("custom-model", "cannot serve this model"),
        ("junk", "not one of this workspace's"),
    ],
)
def test_a_pin_to_a_wrong_credential_changes_nothing_and_says_why(
    client_for, setup, other_workspace, credential, says
):
    workspace = setup["production"].workspace
    choices = {
        "other-provider": lambda: CredentialFactory(workspace=workspace, provider="anthropic").pk,
        "other-workspace": lambda: CredentialFactory(workspace=other_workspace["workspace"]).pk,
        "custom-model": lambda: (
            CredentialFactory(workspace=workspace, model_name="ft", model_type="llm").pk
        ),
        "junk": lambda: "x1",
    }
    response = client_for("owner").post(
        reverse("environment-pin", args=[setup["development"].pk]),
        {"provider": "openai", "credential": choices[credential]()},
        headers=HX,
    )
    assert response.status_code == 422
    assert says in toast(response)
    assert events(response)["toast"]["level"] == "danger"
    assert Pin.objects.get(environment=setup["development"]).credential == setup["backup"]
    assert AuditEntry.objects.filter(action="environment.pin").count() == 1  # the setup's


def test_an_unknown_provider_or_model_is_refused(client_for, setup):
    client = client_for("owner")
    url = reverse("environment-pin", args=[setup["production"].pk])
    response = client.post(url, {"provider": "nope", "credential": ""}, headers=HX)
    assert response.status_code == 422 and toast(response) == "Choose a provider."
    response = client.post(
        url,
        {"provider": "openai", "model": "gpt-99", "type": "llm", "credential": setup["main"].pk},
        headers=HX,
    )
    assert response.status_code == 422 and "not a predefined" in toast(response)
    assert not Pin.objects.filter(environment=setup["production"]).exists()


def test_pin_a_model_form(client_for, setup, workspace):
    CustomModelFactory(workspace=workspace, name="my-ft")
    own = CredentialFactory(
        workspace=workspace, name="FT key", model_name="my-ft", model_type="llm"
    )
    client = client_for("owner")
    form = client.get(reverse("environment-pin-create"), headers=HX).content.decode()
    assert "Pin a model" in form and "my-ft (custom)" in form and "GPT-4o" in form
    development = setup["development"]
    response = client.post(
        reverse("environment-pin-create"),
        {"environment": development.pk, "model": "openai:llm:c:my-ft", "credential": own.pk},
        headers=HX,
    )
    assert response.status_code == 204, response.content.decode()
    assert toast(response) == "Development now uses “FT key” for OpenAI · my-ft."
    pin = Pin.objects.get(environment=development, model_name="my-ft")
    assert pin.custom and pin.credential == own
    # A provider credential cannot serve the custom model: said on the form, nothing pinned.
    response = client.post(
        reverse("environment-pin-create"),
        {
            "environment": setup["production"].pk,
            "model": "openai:llm:c:my-ft",
            "credential": setup["main"].pk,
        },
        headers=HX,
    )
    assert response.status_code == 422
    assert "cannot serve this model" in response.content.decode()
    assert not Pin.objects.filter(environment=setup["production"]).exists()


def test_own_pools_show_in_the_table_with_a_link(client_for, setup, workspace, settings):
    settings.LOAD_BALANCING_ALL_PLANS = True
    development = setup["development"]
    ref = ModelRef("openai", "gpt-4o-mini", "llm", environment=development.pk)
    for _ in range(2):
        pool_entry_add(workspace=workspace, ref=ref, credential=None, acting_user=setup["owner"])
    html = client_for("member").get(reverse("environment-list")).content.decode()
    assert "Own pool (off)" in html
    assert f"env={development.pk}" in html
    Pool.objects.filter(environment=development).update(enabled=True)
    html = client_for("member").get(reverse("environment-list")).content.decode()
    assert "Own pool (on)" in html


# -- the Load balancing page of an environment's own pool -------------------------------------


def test_the_pool_page_of_an_environment(client_for, setup, workspace, settings):
    settings.LOAD_BALANCING_ALL_PLANS = True
    development = setup["development"]
    client = client_for("owner")
    url = reverse("pool-detail", args=["openai"])
    html = client.get(url, {"model": "gpt-4o", "type": "llm", "env": development.pk}).content
    html = html.decode()
    assert "Load balancing in Development</h1>" in html
    assert reverse("environment-list") in html
    assert f'name="env" value="{development.pk}"' in html
    # Its Default Config is what the environment pins: Backup.
    response = client.post(
        reverse("pool-entry-create", args=["openai"])
        + f"?model=gpt-4o&type=llm&env={development.pk}",
        {"entry": "default", "count": 2},
        headers=HX,
    )
    assert response.status_code == 204
    pool = Pool.objects.get(environment=development)
    assert pool.entries.count() == 2
    assert not Pool.objects.filter(workspace=workspace, environment__isnull=True).exists()


def test_the_pool_page_refuses_another_workspaces_environment(
    client_for, setup, other_workspace, members
):
    theirs = environment_create(
        workspace=other_workspace["workspace"],
        name="Theirs",
        acting_user=other_workspace["owner"].user,
    )
    client = client_for("owner")
    url = reverse("pool-detail", args=["openai"])
    for env in (theirs.pk, "x", 999999):
        response = client.get(url, {"model": "gpt-4o", "type": "llm", "env": env})
        assert response.status_code == 404, env


# -- the provider page ---------------------------------------------------------------------------


def test_credential_rows_name_the_environments_pinned_to_them(client_for, setup):
    pin_set(
        environment=setup["production"],
        provider="openai",
        credential=setup["backup"],
        acting_user=setup["owner"],
        ref=GPT_4O,
    )
    html = client_for("member").get(reverse("provider-detail", args=["openai"])).content.decode()
    row = html[html.index(f'id="credential-{setup["backup"].pk}"') :]
    row = row[: row.index("</tr>")]
    assert "Pinned in" in row and "Development<" in row and "Production · openai/gpt-4o" in row
    main_row = html[html.index(f'id="credential-{setup["main"].pk}"') :]
    assert "Pinned in" not in main_row[: main_row.index("</tr>")]


def test_deleting_a_pinned_credential_names_the_environments_and_audits(client_for, setup):
    backup = setup["backup"]
    client = client_for("owner")
    url = reverse("credential-delete", args=["openai", backup.pk])
    confirm = client.get(url, headers=HX).content.decode()
    assert "Pinned in 1 environment" in confirm
    assert "Development (for openai)" in confirm and "follow the default" in confirm
    response = client.post(url, headers=HX)
    assert response.status_code == 200
    assert (
        "These environments lost their pin and follow the default now: Development (openai)."
        in (toast(response))
    )
    assert events(response)["toast"]["level"] == "warning"
    assert not Pin.objects.exists()
    entry = AuditEntry.objects.get(action="environment.unpin")
    assert entry.details["reason"] == "the credential was deleted"


def test_a_new_credential_added_from_an_environments_pool_joins_that_pool(
    client_for, setup, workspace, other_workspace, settings
):
    """Load balancing → Add credential → new, on an environment's pool page: the new
    credential's form carries the environment, and the pool it joins is that environment's."""
    from balancing.services import pool_entry_join, pool_target_check
    from workspaces.exceptions import ApplicationError

    settings.LOAD_BALANCING_ALL_PLANS = True
    development = setup["development"]
    page = client_for("owner").get(
        reverse("pool-entry-create", args=["openai"]),
        {"model": "gpt-4o", "type": "llm", "env": development.pk},
        headers=HX,
    )
    assert f"lb_env={development.pk}" in page.content.decode()
    target = {"model": "gpt-4o", "type": "llm", "custom": False, "env": development.pk}
    checked = pool_target_check(
        workspace=workspace, provider_key="openai", target=target, model_name="", model_type=""
    )
    assert checked["env"] == development.pk
    pool_entry_join(credential=setup["main"], target=checked, acting_user=setup["owner"])
    assert Pool.objects.get(environment=development).entries.count() == 2  # Default Config too
    theirs = environment_create(
        workspace=other_workspace["workspace"], name="X", acting_user=other_workspace["owner"].user
    )
    with pytest.raises(ApplicationError, match="does not exist in this workspace"):
        pool_target_check(
            workspace=workspace,
            provider_key="openai",
            target={**target, "env": theirs.pk},
            model_name="",
            model_type="",
        )
