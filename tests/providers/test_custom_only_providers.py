"""Providers without predefined models (OpenAI-compatible, Ollama, Azure OpenAI) lead with Add
Model; Add Model reuses one of the provider's credentials or takes a new one, and a reused
secret only ever goes to the address it was saved with; an OpenAI custom model is checked
against that model (issue 23, "Custom-only providers lead nowhere")."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from credentials.models import Credential, CredentialStatus, CustomModel, PendingValidation
from providers import services
from system.revalidation import Outcome, credential_revalidate
from tests.factories import CredentialFactory, CustomModelFactory

HX = {"HX-Request": "true"}
STORED = "sk-test-valid-stored-compat-0123456789"
TYPED = "sk-test-valid-typed-compat-9876543210"
FINE_TUNE = "ft:gpt-4o-mini-2024-07-18:acme::9xQvR2Lp"  # listed by the fake's /v1/models
TYPO = "ft:gpt-4o-mini-2024-07-18:acme::9xQvR2Lq"


@pytest.fixture
def admin(client_for):
    return client_for("admin")


@pytest.fixture
def compat_url(fake_providers):
    """An OpenAI-compatible server: the fake OpenAI under its own path."""
    return fake_providers.base_url("openai")


@pytest.fixture
def compat_key(workspace, compat_url):
    """A provider-wide OpenAI-compatible credential: it alone gives no model."""
    return CredentialFactory(
        workspace=workspace,
        provider="openai_compatible",
        name="Server key",
        is_default=True,
        secret_data=json.dumps({"api_key": STORED}),
        masks={"api_key": "sk-…6789"},
        config={"base_url": compat_url},
    )


def triggers(response) -> dict:
    return json.loads(response.get("HX-Trigger", "{}"))


def toast(response) -> dict:
    return triggers(response).get("toast", {})


def primary_buttons(html: str) -> list[str]:
    """The words of each primary button (an <a> or <button> with btn-primary)."""
    found = re.findall(
        r'<(?:a|button)\b[^>]*class="[^"]*\bbtn-primary\b[^"]*"[^>]*>(.*?)</(?:a|button)>',
        html,
        re.S,
    )
    return [re.sub(r"<[^>]+>", "", text).strip() for text in found]


def sent(server, secret: str) -> bool:
    return any(secret in json.dumps(r.headers) + repr(r.body) for r in server.requests)


def add_model(client, provider="openai_compatible", **data):
    return client.post(
        reverse("custom-model-create", args=[provider]),
        {"model_type": "llm", **data},
        headers=HX,
    )


# --- Add Model is the primary action -------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai_compatible", "ollama", "azure_openai"])
def test_an_empty_custom_only_provider_leads_with_add_model(admin, provider):
    html = admin.get(reverse("provider-detail", args=[provider])).content.decode()
    assert "No models yet" in html
    buttons = primary_buttons(html)
    assert "Add Model" in buttons
    assert "Add credential" not in buttons  # still there, as a secondary action
    assert f'href="{reverse("credential-create", args=[provider])}"' in html


def test_a_custom_only_provider_with_a_credential_still_leads_with_add_model(admin, compat_key):
    html = admin.get(reverse("provider-detail", args=["openai_compatible"])).content.decode()
    buttons = primary_buttons(html)
    assert "Add Model" in buttons and "Add credential" not in buttons


def test_a_provider_with_predefined_models_keeps_add_credential_first(admin):
    html = admin.get(reverse("provider-detail", args=["openai"])).content.decode()
    assert "No credentials yet" in html and "No models yet" not in html
    assert "Add credential" in primary_buttons(html)


def test_a_member_is_told_who_adds_the_models(client_for):
    html = client_for("member").get(reverse("provider-detail", args=["ollama"])).content.decode()
    assert "The owner or an admin adds them" in html
    assert "Add Model" not in primary_buttons(html)


# --- the form: two groups, words of the provider at hand ------------------------------------


def test_add_model_is_two_labelled_groups_model_then_credential(admin, compat_key):
    html = admin.get(
        reverse("custom-model-create", args=["openai_compatible"]), headers=HX
    ).content.decode()
    model_at, credential_at = html.index("<legend"), html.index("Credential</legend>")
    assert re.search(r"<legend[^>]*>Model</legend>", html)
    assert model_at < html.index('name="model_name"') < credential_at
    assert model_at < html.index('name="model_type"') < credential_at
    assert credential_at < html.index('name="credential"') < html.index('name="api_key"')
    assert ">Credential name<" in html and ">Name<" not in html
    assert '<option value="" selected>New credential</option>' in html
    assert f'<option value="{compat_key.pk}">Server key · provider credential</option>' in html
    assert STORED not in html


def test_help_text_speaks_of_the_provider_at_hand(admin):
    def form(provider: str) -> str:
        url = reverse("custom-model-create", args=[provider])
        return admin.get(url, headers=HX).content.decode()

    compat, openai = form("openai_compatible"), form("openai")
    assert "Azure" not in compat and "deployment" not in compat.lower()
    assert "/models list" in compat
    assert "fine-tune" in openai and "Azure" not in openai
    assert "Deployment Name below" in form("azure_openai")
    assert "ollama list" in form("ollama")


# --- reusing a credential -------------------------------------------------------------------


def test_add_model_with_an_existing_credential_copies_its_key_into_the_model(
    admin, workspace, compat_key, compat_url, fake_providers
):
    response = add_model(
        admin,
        model_name="gpt-4o-mini",
        credential=compat_key.pk,
        base_url=compat_url,
        api_key="",
    )
    assert "credentialsChanged" in triggers(response), response.content
    model = CustomModel.objects.get(workspace=workspace, provider="openai_compatible")
    assert (model.name, model.type) == ("gpt-4o-mini", "llm")
    copy = Credential.objects.get(model_name="gpt-4o-mini")
    assert copy.pk != compat_key.pk and copy.is_default
    assert copy.name == "Server key"  # the reused credential's name
    assert copy.secrets == {"api_key": STORED}
    assert copy.config["base_url"] == compat_url
    assert any(
        r.headers.get("authorization") == f"Bearer {STORED}" for r in fake_providers.requests
    )
    compat_key.refresh_from_db()
    assert compat_key.model_name == ""  # the provider's credential stays as it was


def test_a_reused_credential_is_never_sent_to_another_url(
    admin, workspace, compat_key, fake_providers, elsewhere
):
    fake_providers.reset()
    response = add_model(
        admin,
        model_name="gpt-4o-mini",
        credential=compat_key.pk,
        base_url=elsewhere.base_url("openai"),
        api_key="",
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "API Base URL changed: type the API Key again" in html
    assert STORED not in html
    assert elsewhere.requests == [] and not sent(fake_providers, STORED)
    assert not PendingValidation.objects.exists()
    assert not CustomModel.objects.exists()
    assert Credential.objects.count() == 1


def test_a_reused_credential_at_another_url_takes_the_key_typed_again(
    admin, workspace, compat_key, elsewhere
):
    response = add_model(
        admin,
        model_name="gpt-4o-mini",
        credential=compat_key.pk,
        base_url=elsewhere.base_url("openai"),
        api_key=TYPED,
    )
    assert "credentialsChanged" in triggers(response), response.content
    assert not sent(elsewhere, STORED)
    assert sent(elsewhere, TYPED)
    copy = Credential.objects.get(model_name="gpt-4o-mini")
    assert copy.secrets == {"api_key": TYPED}


def test_a_default_address_left_out_of_a_stored_credential_is_still_its_address(
    admin, workspace, fake_providers, elsewhere
):
    """An OpenAI key saved without a base URL goes to api.openai.com: reused at a loopback
    fake, it needs typing again."""
    key = CredentialFactory(
        workspace=workspace, secret_data=json.dumps({"api_key": STORED}), config={}
    )
    response = add_model(
        admin,
        "openai",
        model_name=FINE_TUNE,
        credential=key.pk,
        base_url=elsewhere.base_url("openai"),
        api_key="",
    )
    assert response.status_code == 422
    assert "type the API Key again" in response.content.decode()
    assert elsewhere.requests == []


def test_another_workspaces_credential_cannot_be_reused(
    admin, other_workspace, compat_url, fake_providers
):
    theirs = CredentialFactory(
        workspace=other_workspace["workspace"],
        provider="openai_compatible",
        secret_data=json.dumps({"api_key": STORED}),
        config={"base_url": compat_url},
    )
    fake_providers.reset()
    response = add_model(
        admin, model_name="gpt-4o-mini", credential=theirs.pk, base_url=compat_url, api_key=""
    )
    assert response.status_code == 422
    assert "credentialsChanged" not in triggers(response)
    assert not sent(fake_providers, STORED)
    assert not Credential.objects.filter(model_name="gpt-4o-mini").exists()
    url = reverse("custom-model-create", args=["openai_compatible"])
    html = admin.get(f"{url}?credential={theirs.pk}", headers=HX).content.decode()
    assert '<option value="" selected>New credential</option>' in html


def test_choosing_a_credential_fills_its_address_and_shows_its_mask(admin, compat_key, compat_url):
    url = reverse("custom-model-create", args=["openai_compatible"])
    html = admin.get(
        f"{url}?credential={compat_key.pk}&model_name=qwen&model_type=llm", headers=HX
    ).content.decode()
    assert f'<option value="{compat_key.pk}" selected>' in html
    assert f'value="{compat_url}"' in html
    assert "sk-…6789 — leave empty to reuse Server key" in html
    assert 'value="qwen"' in html
    assert STORED not in html
    # Choosing another reloads the form with the model's fields only: never a typed secret.
    select = re.search(r'<select name="credential"[^>]*>', html).group(0)
    assert 'hx-include="[name=model_name],[name=model_type],[name=features]"' in select


def test_refresh_models_add_model_preselects_the_credential_it_listed_with(
    admin, compat_key, compat_url
):
    response = admin.post(
        reverse("model-refresh", args=["openai_compatible"]),
        {"credential": compat_key.pk},
        headers=HX,
    )
    html = response.content.decode()
    link = re.search(r'href="([^"]*\?model=gpt-4o-mini&amp;[^"]*)"', html).group(1)
    assert f"credential={compat_key.pk}" in link
    form = admin.get(link.replace("&amp;", "&"), headers=HX).content.decode()
    assert f'<option value="{compat_key.pk}" selected>' in form
    assert f'value="{compat_url}"' in form and 'value="gpt-4o-mini"' in form
    assert "leave empty to reuse Server key" in form
    assert STORED not in form


# --- the model itself is checked ----------------------------------------------------------


def test_an_openai_fine_tune_with_a_typo_is_refused_at_save(admin, workspace, fake_providers):
    base_url = fake_providers.base_url("openai")
    response = add_model(admin, "openai", model_name=TYPO, api_key=TYPED, base_url=base_url)
    assert "credentialsChanged" not in triggers(response)
    assert toast(response)["level"] == "danger"
    assert toast(response)["message"].startswith("Model not available")
    assert "Model not available" in response.content.decode()
    assert TYPO in toast(response)["message"]
    assert not CustomModel.objects.exists() and not Credential.objects.exists()

    response = add_model(admin, "openai", model_name=FINE_TUNE, api_key=TYPED, base_url=base_url)
    assert "credentialsChanged" in triggers(response)
    assert CustomModel.objects.get().name == FINE_TUNE


def test_an_unlisted_model_of_an_openai_compatible_server_is_saved_with_a_warning(
    admin, workspace, compat_url
):
    response = add_model(
        admin, model_name="served-but-unlisted", api_key=TYPED, base_url=compat_url
    )
    assert "credentialsChanged" in triggers(response)
    assert toast(response)["level"] == "warning"
    assert "does not list served-but-unlisted" in toast(response)["message"]
    assert Credential.objects.get(model_name="served-but-unlisted").status == "active"


def test_revalidation_does_not_fail_a_saved_openai_model_the_key_cannot_list(
    workspace, fake_providers
):
    """Saved before the model was checked: scheduled re-validation keeps it as it was."""
    CustomModelFactory(workspace=workspace, name=TYPO)
    saved = CredentialFactory(
        workspace=workspace,
        model_name=TYPO,
        model_type="llm",
        is_default=True,
        secret_data=json.dumps({"api_key": TYPED}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    assert credential_revalidate(credential_id=saved.pk) is Outcome.ACTIVE
    saved.refresh_from_db()
    assert saved.status == CredentialStatus.ACTIVE


def test_revalidation_still_fails_a_refused_key_of_a_custom_model(workspace, fake_providers):
    CustomModelFactory(workspace=workspace, name=FINE_TUNE)
    refused = CredentialFactory(
        workspace=workspace,
        model_name=FINE_TUNE,
        model_type="llm",
        secret_data=json.dumps({"api_key": "sk-test-invalid-0123456789"}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    assert credential_revalidate(credential_id=refused.pk) is Outcome.FAILING


def test_check_now_warns_about_an_unlisted_model_without_failing_it(
    admin, workspace, fake_providers
):
    CustomModelFactory(workspace=workspace, name=TYPO)
    saved = CredentialFactory(
        workspace=workspace,
        name="FT key",
        model_name=TYPO,
        model_type="llm",
        is_default=True,
        secret_data=json.dumps({"api_key": TYPED}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    response = admin.post(reverse("credential-check", args=["openai", saved.pk]), headers=HX)
    saved.refresh_from_db()
    assert saved.status == CredentialStatus.ACTIVE
    assert toast(response)["level"] == "warning"
    assert f"does not list {TYPO}" in toast(response)["message"]


# --- re-add and delete say what is true -----------------------------------------------------


def test_after_a_re_add_the_toast_names_the_credential_that_is_the_default(
    admin, workspace, members
):
    model = CustomModelFactory(workspace=workspace, name="m")
    first = CredentialFactory(
        workspace=workspace, name="first", model_name="m", model_type="llm", is_default=True
    )
    second = CredentialFactory(workspace=workspace, name="second", model_name="m", model_type="llm")
    services.custom_model_remove(custom_model=model, acting_user=members["admin"].user)
    response = admin.post(
        reverse("custom-model-readd", args=["openai"]), {"credential": second.pk}, headers=HX
    )
    first.refresh_from_db()
    assert first.is_default
    assert toast(response)["message"] == "m is back, using first."


def test_deleting_the_last_credential_of_a_removed_model_does_not_say_it_deletes_the_model(
    admin, workspace, members
):
    model = CustomModelFactory(workspace=workspace, name="gone")
    last = CredentialFactory(
        workspace=workspace, name="last", model_name="gone", model_type="llm", is_default=True
    )
    services.custom_model_remove(custom_model=model, acting_user=members["admin"].user)
    html = admin.get(
        reverse("credential-delete", args=["openai", last.pk]), headers=HX
    ).content.decode()
    assert "deletes the custom model too" not in html
    kept = CustomModelFactory(workspace=workspace, name="kept")
    only = CredentialFactory(workspace=workspace, model_name="kept", model_type="llm")
    assert kept.pk
    html = admin.get(
        reverse("credential-delete", args=["openai", only.pk]), headers=HX
    ).content.decode()
    assert "deletes the custom model too" in html
