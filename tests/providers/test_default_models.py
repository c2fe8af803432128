"""Settings → Default models: one model per type, chosen by owners and admins, read by
members; a type without a default shows a proposal that is stored only on Save."""

from __future__ import annotations

import pytest
from django.urls import reverse

from providers import defaults
from providers.models import DefaultModel
from tests.factories import CredentialFactory, CustomModelFactory, ModelSettingFactory
from upstream.schema import MODEL_TYPES
from workspaces.exceptions import ApplicationError, NotAllowed
from workspaces.models import AuditEntry

URL = reverse("default-models")


@pytest.fixture
def openai_default(workspace):
    return CredentialFactory(workspace=workspace, provider="openai", name="main", is_default=True)


def saved(workspace) -> dict[str, str]:
    return {
        d.model_type: f"{d.provider}/{d.model_name}{' (custom)' if d.custom else ''}"
        for d in DefaultModel.objects.filter(workspace=workspace)
    }


# -- services ------------------------------------------------------------------------------------


def test_setting_a_default_stores_it_and_writes_the_audit_log(workspace, members, openai_default):
    admin = members["admin"].user

    changed = defaults.default_model_set(
        workspace=workspace, model_type="llm", model_id="openai/gpt-4o", acting_user=admin
    )

    assert changed
    assert saved(workspace) == {"llm": "openai/gpt-4o"}
    entry = AuditEntry.objects.get(workspace=workspace, action="default_model.set")
    assert entry.actor == admin
    assert entry.details == {"model_type": "llm", "model": "openai/gpt-4o", "previous": None}
    assert entry.object_repr == "LLM: openai/gpt-4o"


def test_each_type_has_its_own_default_and_replacing_one_is_audited(
    workspace, members, openai_default
):
    owner = members["owner"].user
    defaults.default_model_set(
        workspace=workspace, model_type="llm", model_id="openai/gpt-4o", acting_user=owner
    )
    defaults.default_model_set(
        workspace=workspace,
        model_type="text-embedding",
        model_id="openai/text-embedding-3-small",
        acting_user=owner,
    )
    defaults.default_model_set(
        workspace=workspace, model_type="llm", model_id="openai/o3", acting_user=owner
    )
    again = defaults.default_model_set(
        workspace=workspace, model_type="llm", model_id="openai/o3", acting_user=owner
    )

    assert not again  # nothing changed, nothing audited
    assert saved(workspace) == {
        "llm": "openai/o3",
        "text-embedding": "openai/text-embedding-3-small",
    }
    entries = AuditEntry.objects.filter(workspace=workspace, action="default_model.set")
    assert entries.count() == 3
    assert entries.order_by("-pk").first().details["previous"] == "openai/gpt-4o"


def test_clearing_a_default_removes_only_that_type(workspace, members, openai_default):
    owner = members["owner"].user
    for model_type, model_id in [("llm", "openai/gpt-4o"), ("tts", "openai/tts-1")]:
        defaults.default_model_set(
            workspace=workspace, model_type=model_type, model_id=model_id, acting_user=owner
        )

    assert defaults.default_model_clear(workspace=workspace, model_type="llm", acting_user=owner)
    assert not defaults.default_model_clear(
        workspace=workspace, model_type="llm", acting_user=owner
    )
    assert saved(workspace) == {"tts": "openai/tts-1"}
    entry = AuditEntry.objects.get(workspace=workspace, action="default_model.clear")
    assert entry.details == {"model_type": "llm", "previous": "openai/gpt-4o"}


@pytest.mark.parametrize(
    ("model_type", "model_id", "words"),
    [
        ("llm", "openai/no-such-model", "is not one of this workspace's LLM models"),
        ("llm", "openai/text-embedding-3-small", "is not one of this workspace's LLM models"),
        ("llm", "anthropic/claude-haiku-4-5-20251001", "cannot be the default: no credential"),
    ],
)
def test_unknown_and_unusable_models_cannot_become_defaults(
    workspace, members, openai_default, model_type, model_id, words
):
    with pytest.raises(ApplicationError, match=words):
        defaults.default_model_set(
            workspace=workspace,
            model_type=model_type,
            model_id=model_id,
            acting_user=members["owner"].user,
        )
    assert saved(workspace) == {}


def test_an_unknown_model_type_is_refused(workspace, members, openai_default):
    with pytest.raises(ApplicationError, match="Unknown model type"):
        defaults.default_model_set(
            workspace=workspace,
            model_type="hologram",
            model_id="openai/gpt-4o",
            acting_user=members["owner"].user,
        )


@pytest.mark.parametrize("role", ["editor", "member"])
def test_only_owners_and_admins_change_defaults(workspace, members, openai_default, role):
    with pytest.raises(NotAllowed):
        defaults.default_model_set(
            workspace=workspace,
            model_type="llm",
            model_id="openai/gpt-4o",
            acting_user=members[role].user,
        )
    assert saved(workspace) == {}


def test_a_custom_model_with_a_predefined_name_is_stored_as_custom(
    workspace, members, openai_default
):
    CustomModelFactory(workspace=workspace, name="gpt-4o")
    CredentialFactory(workspace=workspace, model_name="gpt-4o", model_type="llm", is_default=True)

    defaults.default_model_set(
        workspace=workspace,
        model_type="llm",
        model_id="openai/gpt-4o#custom",
        acting_user=members["owner"].user,
    )

    assert saved(workspace) == {"llm": "openai/gpt-4o (custom)"}
    choice = defaults.default_models_for(workspace=workspace)["llm"]
    assert choice.option.custom and choice.saved_id == "openai/gpt-4o#custom"


def test_another_workspaces_defaults_are_not_read(
    workspace, members, openai_default, other_workspace
):
    other = other_workspace["workspace"]
    CredentialFactory(workspace=other, provider="openai", is_default=True)
    defaults.default_model_set(
        workspace=other,
        model_type="llm",
        model_id="openai/o3",
        acting_user=other_workspace["owner"].user,
    )

    choice = defaults.default_models_for(workspace=workspace)["llm"]

    assert choice.saved is None and choice.proposal.id == "openai/gpt-4.1"


# -- the page ------------------------------------------------------------------------------------


def test_a_type_without_default_proposes_the_first_active_model_without_saving_it(
    client_for, workspace, openai_default
):
    response = client_for("admin").get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("Proposed — not saved yet") == sum(
        1
        for t in MODEL_TYPES
        if t not in ("rerank",)  # Cohere's rerankers have no credential
    )
    assert 'value="openai/gpt-4.1" selected' in html  # pre-selected
    assert DefaultModel.objects.filter(workspace=workspace).count() == 0  # not saved


def test_save_stores_the_proposals_and_the_page_then_shows_them_saved(
    client_for, workspace, openai_default
):
    client = client_for("admin")
    response = client.post(
        URL, {"llm": "openai/gpt-4.1", "tts": "openai/tts-1"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert saved(workspace) == {"llm": "openai/gpt-4.1", "tts": "openai/tts-1"}
    assert "Default models saved (LLM, Text to speech)." in response["HX-Trigger"]
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="default-models"')  # the fragment, swapped in place
    llm_card = html[html.index('id="default-llm-title"') : html.index('id="id_llm"')]
    assert "Saved" in llm_card and "Proposed" not in llm_card


def test_save_without_htmx_redirects_with_a_message(client_for, workspace, openai_default):
    client = client_for("owner")
    response = client.post(URL, {"llm": "openai/o3"}, follow=True)

    assert response.redirect_chain == [(URL, 302)]
    assert "Default models saved (LLM)." in response.content.decode()
    assert saved(workspace) == {"llm": "openai/o3"}


def test_an_unusable_choice_is_refused_with_the_reason(client_for, workspace, openai_default):
    ModelSettingFactory(workspace=workspace, model_name="o3", enabled=False)
    response = client_for("admin").post(URL, {"llm": "openai/o3"}, headers={"HX-Request": "true"})

    assert response.status_code == 422
    assert "openai/o3 cannot be used: disabled. Switched off in this workspace." in (
        response.content.decode()
    )
    assert saved(workspace) == {}


def test_clear_removes_the_saved_default(client_for, workspace, members, openai_default):
    defaults.default_model_set(
        workspace=workspace,
        model_type="llm",
        model_id="openai/o3",
        acting_user=members["owner"].user,
    )
    client = client_for("admin")
    assert 'name="clear" value="llm"' in client.get(URL).content.decode()

    response = client.post(URL, {"clear": "llm"}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "Default LLM model cleared." in response["HX-Trigger"]
    assert saved(workspace) == {}
    assert "Proposed — not saved yet" in response.content.decode()


def test_a_saved_default_that_became_unusable_shows_its_status_and_reason(
    client_for, workspace, members, openai_default
):
    defaults.default_model_set(
        workspace=workspace,
        model_type="llm",
        model_id="openai/gpt-4o",
        acting_user=members["owner"].user,
    )
    openai_default.status = "failing"
    openai_default.save(update_fields=["status"])

    choice = defaults.default_models_for(workspace=workspace)["llm"]
    admin_page = client_for("admin").get(URL).content.decode()
    member_page = client_for("member").get(URL).content.decode()

    assert not choice.usable
    for html in (admin_page, member_page):
        assert choice.option.status.label in html
        assert choice.option.status.reason in html
    assert "cannot be used now" in admin_page
    assert saved(workspace) == {"llm": "openai/gpt-4o"}  # kept until someone chooses another


def test_a_saved_custom_model_that_was_removed_says_so(
    client_for, workspace, members, openai_default
):
    model = CustomModelFactory(workspace=workspace, name="my-tune")
    CredentialFactory(workspace=workspace, model_name="my-tune", model_type="llm", is_default=True)
    defaults.default_model_set(
        workspace=workspace,
        model_type="llm",
        model_id="openai/my-tune",
        acting_user=members["owner"].user,
    )
    model.delete()

    html = client_for("member").get(URL).content.decode()

    assert "openai/my-tune" in html and "No longer a model of this workspace." in html


def test_members_see_the_defaults_read_only(client_for, workspace, members, openai_default):
    defaults.default_model_set(
        workspace=workspace,
        model_type="llm",
        model_id="openai/o3",
        acting_user=members["owner"].user,
    )

    html = client_for("member").get(URL).content.decode()

    assert "openai/o3" in html and "Active" in html
    assert "<form" not in html[html.index('id="default-models"') :]
    assert "Only owners and admins change them." in html
    assert "Proposed" not in html  # proposals are for the people who can save them


@pytest.mark.parametrize("role", ["editor", "member"])
def test_members_cannot_post(client_for, workspace, openai_default, role):
    client = client_for(role)

    assert client.post(URL, {"llm": "openai/o3"}).status_code == 403
    assert client.post(URL, {"clear": "llm"}).status_code == 403
    assert saved(workspace) == {}


def test_the_settings_navigation_links_the_page(client_for, workspace):
    html = client_for("member").get(URL).content.decode()

    assert f'href="{URL}"' in html and 'aria-current="page">' in html
    nav = html[html.index('aria-label="Settings"') : html.index("</nav>")]
    assert nav.index("Model Providers") < nav.index("Default models")


def test_the_page_is_a_compact_form_one_select_per_type_usable_first(
    client_for, workspace, openai_default
):
    html = client_for("admin").get(URL).content.decode()
    assert html.count("<select ") == len(MODEL_TYPES)
    assert 'role="radiogroup"' not in html and "-search" not in html
    llm = html[html.index('<select name="llm"') : html.index("</select>", html.index('name="llm"'))]
    usable, _, unavailable = llm.partition('<optgroup label="Unavailable (')
    assert 'value="openai/gpt-4o"' in usable and " disabled" not in usable.split("</optgroup>")[0]
    assert unavailable and "anthropic/" in unavailable
