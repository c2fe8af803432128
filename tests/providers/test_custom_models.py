"""Custom models (DESIGN.md section 6): Add Model, per-model credentials, remove and re-add,
Manage Credentials, enable/disable, status, and a constant number of queries."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from credentials.models import Credential, CustomModel
from providers import services
from providers.selectors import ModelUnavailable, model_for_use, provider_models
from tests.factories import CredentialFactory, CustomModelFactory
from upstream.registry import get_provider

HX = {"HX-Request": "true"}
VALID = "sk-test-valid-custom-0001"


def add_model(client, base_url, *, name="my-finetune", model_type="llm", key=VALID, cred=""):
    return client.post(
        reverse("custom-model-create", args=["openai"]),
        {
            "model_name": name,
            "model_type": model_type,
            "name": cred,
            "api_key": key,
            "base_url": base_url,
        },
        headers=HX,
    )


def triggers(response) -> dict:
    return json.loads(response.get("HX-Trigger", "{}"))


@pytest.fixture
def admin(client_for):
    return client_for("admin")


@pytest.fixture
def base_url(fake_providers):
    return fake_providers.base_url("openai")


def test_add_model_validates_then_creates_the_model_with_its_default_credential(
    admin, workspace, base_url
):
    response = add_model(admin, base_url, cred="FT key")
    assert "credentialsChanged" in triggers(response)
    model = CustomModel.objects.get(workspace=workspace)
    assert (model.provider, model.name, model.type) == ("openai", "my-finetune", "llm")
    credential = Credential.objects.get(model_name="my-finetune")
    assert (credential.name, credential.is_default, credential.model_type) == (
        "FT key",
        True,
        "llm",
    )


def test_the_same_name_and_type_adds_a_credential_not_a_second_model(admin, workspace, base_url):
    add_model(admin, base_url)
    add_model(admin, base_url, key="sk-test-valid-custom-0002")
    assert CustomModel.objects.count() == 1
    credentials = Credential.objects.filter(model_name="my-finetune").order_by("pk")
    assert [c.name for c in credentials] == ["API KEY 1", "API KEY 2"]
    assert [c.is_default for c in credentials] == [True, False]


def test_the_same_name_with_another_type_is_another_model(admin, workspace, base_url):
    add_model(admin, base_url)
    add_model(admin, base_url, model_type="text-embedding")
    assert CustomModel.objects.count() == 2


def test_a_refused_key_creates_neither_model_nor_credential(admin, workspace, base_url):
    response = add_model(admin, base_url, key="sk-test-invalid-custom-1")
    html = response.content.decode()
    assert "Authentication failed" in html and "Add Model" in html
    assert 'value="my-finetune"' in html  # the model name typed is kept
    assert not CustomModel.objects.exists() and not Credential.objects.exists()


@pytest.mark.parametrize(
    ("name", "model_type", "message"),
    [
        ("my model", "llm", "no spaces"),
        ("", "llm", "This field is required."),
        ("x" * 201, "llm", "at most 200 characters"),
        ("ok", "rerank", "Select a valid choice."),  # OpenAI offers no rerank models
    ],
)
def test_bad_model_names_and_types_are_form_errors(
    admin, workspace, base_url, name, model_type, message
):
    response = add_model(admin, base_url, name=name, model_type=model_type)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not CustomModel.objects.exists()


def test_deleting_the_only_credential_deletes_the_model_and_the_dialog_says_so(
    admin, workspace, base_url
):
    add_model(admin, base_url)
    credential = Credential.objects.get()
    url = reverse("credential-delete", args=["openai", credential.pk])
    confirm = admin.get(url, headers=HX).content.decode()
    assert "This is the only credential of my-finetune" in confirm
    assert "deletes the custom model too" in confirm
    response = admin.post(url, headers=HX)
    assert "which was removed" in triggers(response)["toast"]["message"]
    assert not CustomModel.objects.exists()


def test_a_model_whose_default_was_deleted_shows_no_credential_selected(
    admin, workspace, base_url, client_for
):
    add_model(admin, base_url)
    add_model(admin, base_url, key="sk-test-valid-custom-0002")
    default = Credential.objects.get(is_default=True)
    admin.post(reverse("credential-delete", args=["openai", default.pk]), headers=HX)
    model = CustomModel.objects.get()
    page = client_for("member").get(reverse("provider-detail", args=["openai"])).content.decode()
    assert "no credential selected" in page
    detail = (
        client_for("member")
        .get(reverse("custom-model-detail", args=["openai", model.pk]))
        .content.decode()
    )
    assert "No credential selected." in detail and "No credential" in detail


def test_removing_a_model_keeps_its_credentials_for_a_one_click_re_add(admin, workspace, base_url):
    add_model(admin, base_url, cred="FT key")
    model = CustomModel.objects.get()
    admin.post(reverse("custom-model-delete", args=["openai", model.pk]), headers=HX)
    assert not CustomModel.objects.exists()
    credential = Credential.objects.get()  # kept
    form = admin.get(reverse("custom-model-create", args=["openai"]), headers=HX)
    html = form.content.decode()
    assert "Removed models" in html and "my-finetune" in html
    assert f'<option value="{credential.pk}"' in html
    response = admin.post(
        reverse("custom-model-readd", args=["openai"]), {"credential": credential.pk}, headers=HX
    )
    assert "is back" in triggers(response)["toast"]["message"]
    assert CustomModel.objects.filter(name="my-finetune", type="llm").exists()
    assert (
        "Removed models"
        not in admin.get(
            reverse("custom-model-create", args=["openai"]), headers=HX
        ).content.decode()
    )


def test_deleting_all_credentials_of_a_removed_model_takes_it_off_the_re_add_list(
    admin, workspace, base_url
):
    add_model(admin, base_url)
    add_model(admin, base_url, key="sk-test-valid-custom-0002")
    model = CustomModel.objects.get()
    admin.post(reverse("custom-model-delete", args=["openai", model.pk]), headers=HX)
    first, second = Credential.objects.order_by("pk")
    provider = get_provider("openai")
    admin.post(reverse("credential-delete", args=["openai", first.pk]), headers=HX)
    assert [m.name for m in provider_models(workspace=workspace, provider=provider).removed] == [
        "my-finetune"
    ]
    admin.post(reverse("credential-delete", args=["openai", second.pk]), headers=HX)
    assert provider_models(workspace=workspace, provider=provider).removed == []


def test_manage_credentials_groups_every_custom_credential_including_removed_models(
    workspace, client_for
):
    CustomModelFactory(workspace=workspace, name="live")
    CredentialFactory(workspace=workspace, name="live-key", model_name="live", model_type="llm")
    CredentialFactory(workspace=workspace, name="gone-key", model_name="gone", model_type="llm")
    CredentialFactory(workspace=workspace, name="provider-key")  # provider scope: not listed
    html = (
        client_for("member")
        .get(reverse("custom-credential-list", args=["openai"]))
        .content.decode()
    )
    assert "live-key" in html and "gone-key" in html and "removed" in html
    assert "provider-key" not in html
    assert html.index(">live<") < html.index("live-key")


def test_a_disabled_model_is_shown_disabled_and_refused(
    admin, members, workspace, base_url, client_for
):
    CredentialFactory(workspace=workspace, is_default=True)
    provider = get_provider("openai")
    assert model_for_use(
        workspace=workspace, provider=provider, name="gpt-4o", model_type="llm"
    ).status.usable
    response = admin.post(
        reverse("model-toggle", args=["openai"]),
        {"model_name": "gpt-4o", "model_type": "llm", "enabled": "false"},
        headers=HX,
    )
    assert "hidden from model selection" in triggers(response)["toast"]["message"]
    with pytest.raises(ModelUnavailable, match="disabled"):
        model_for_use(workspace=workspace, provider=provider, name="gpt-4o", model_type="llm")
    page = client_for("member").get(reverse("provider-detail", args=["openai"])).content.decode()
    row = re.search(r"openai/gpt-4o</div>.*?</tr>", page, re.S).group(0)
    assert "Disabled" in row
    services.model_set_enabled(
        workspace=workspace,
        provider_key="openai",
        model_name="gpt-4o",
        model_type="llm",
        enabled=True,
        acting_user=members["owner"].user,
    )
    assert model_for_use(
        workspace=workspace, provider=provider, name="gpt-4o", model_type="llm"
    ).status.usable


def test_models_without_a_usable_credential_are_refused_with_the_reason(workspace):
    provider = get_provider("openai")
    with pytest.raises(ModelUnavailable, match="no credential"):
        model_for_use(workspace=workspace, provider=provider, name="gpt-4o", model_type="llm")
    CredentialFactory(workspace=workspace, is_default=True, status="failing")
    with pytest.raises(ModelUnavailable, match="credential failing"):
        model_for_use(workspace=workspace, provider=provider, name="gpt-4o", model_type="llm")
    with pytest.raises(ModelUnavailable, match="not a llm model"):
        model_for_use(workspace=workspace, provider=provider, name="nope", model_type="llm")


@pytest.mark.parametrize("role", ["editor", "member"])
def test_editors_and_members_cannot_toggle_remove_or_re_add(workspace, members, role):
    from workspaces.exceptions import NotAllowed

    model = CustomModelFactory(workspace=workspace, name="m")
    credential = CredentialFactory(workspace=workspace, model_name="m", model_type="llm")
    user = members[role].user
    with pytest.raises(NotAllowed):
        services.model_set_enabled(
            workspace=workspace,
            provider_key="openai",
            model_name="m",
            model_type="llm",
            enabled=False,
            acting_user=user,
        )
    with pytest.raises(NotAllowed):
        services.custom_model_remove(custom_model=model, acting_user=user)
    model.delete()
    with pytest.raises(NotAllowed):
        services.custom_model_readd(workspace=workspace, credential=credential, acting_user=user)


def test_the_provider_page_needs_a_constant_number_of_queries(
    workspace, client_for, django_assert_max_num_queries
):
    client = client_for("member")
    url = reverse("provider-detail", args=["openai"])
    client.get(url)  # the first request also writes the session
    with django_assert_max_num_queries(20) as small:
        client.get(url)
    models = [CustomModelFactory.build(workspace=workspace, name=f"ft-{i}") for i in range(100)]
    CustomModel.objects.bulk_create(models)
    credentials = [
        CredentialFactory.build(
            workspace=workspace,
            model_name=f"ft-{i // 3}",
            model_type="llm",
            is_default=i % 3 == 0,
        )
        for i in range(300)
    ]
    Credential.objects.bulk_create(credentials)
    with django_assert_max_num_queries(len(small.captured_queries)) as large:
        response = client.get(url)
    assert response.content.decode().count("ft-") >= 100
    assert len(large.captured_queries) == len(small.captured_queries)


def test_refresh_models_shows_what_a_credential_reaches_and_offers_the_rest(
    admin, workspace, base_url, fake_providers
):
    credential = CredentialFactory(
        workspace=workspace,
        is_default=True,
        config={"base_url": base_url},
        secret_data=json.dumps({"api_key": VALID}),
    )
    form = admin.get(reverse("model-refresh", args=["openai"]), headers=HX).content.decode()
    assert f'<option value="{credential.pk}">' in form
    response = admin.post(
        reverse("model-refresh", args=["openai"]), {"credential": credential.pk}, headers=HX
    )
    html = response.content.decode()
    listed = {m["id"] for m in fake_providers_models(fake_providers, base_url)}
    predefined = {m.name for m in get_provider("openai").models}
    assert listed & predefined and predefined - listed and listed - predefined

    def shown(name: str, state: str) -> bool:
        return f'{name}</span> <span class="text-secondary small">{state}' in html

    assert all(shown(name, "available") for name in listed & predefined)
    assert all(shown(name, "not available") for name in predefined - listed)
    extra = sorted(listed - predefined)[0]
    assert f"?model={extra}" in html and "Add Model" in html
    assert any(r.headers.get("authorization") == f"Bearer {VALID}" for r in fake_providers.requests)


def fake_providers_models(fake_providers, base_url) -> list[dict]:
    """What the fake's /models answers to a valid key (the ground truth for the page)."""
    import requests

    answer = requests.get(
        f"{base_url}/models", headers={"Authorization": f"Bearer {VALID}"}, timeout=5
    )
    return answer.json()["data"]


def test_refresh_models_with_a_refused_key_says_why(admin, workspace, base_url):
    credential = CredentialFactory(
        workspace=workspace,
        config={"base_url": base_url},
        secret_data=json.dumps({"api_key": "sk-test-invalid-7"}),
    )
    html = admin.post(
        reverse("model-refresh", args=["openai"]), {"credential": credential.pk}, headers=HX
    ).content.decode()
    assert "Authentication failed" in html
    assert "sk-test-invalid-7" not in html


def test_refresh_models_polls_until_a_worker_answers(admin, workspace, base_url, queued_only):
    from providers.models import ModelRefresh
    from providers.services import model_refresh_run

    credential = CredentialFactory(
        workspace=workspace,
        config={"base_url": base_url},
        secret_data=json.dumps({"api_key": VALID}),
    )
    html = admin.post(
        reverse("model-refresh", args=["openai"]), {"credential": credential.pk}, headers=HX
    ).content.decode()
    assert "Asking OpenAI which models" in html
    refresh = ModelRefresh.objects.get()
    poll = reverse("model-refresh-detail", args=["openai", refresh.pk])
    assert admin.get(poll, headers=HX).status_code == 204
    model_refresh_run(refresh_id=str(refresh.pk))  # what the worker does with the id
    assert admin.get(poll, headers=HX).status_code == 286


def test_providers_that_cannot_list_models_offer_no_refresh(admin, workspace):
    page = admin.get(reverse("provider-detail", args=["stability"])).content.decode()
    assert "Refresh models" not in page
    assert admin.get(reverse("model-refresh", args=["stability"])).status_code == 404


def test_select_as_default_on_a_model_page_changes_that_model_only(admin, workspace, client_for):
    CredentialFactory(workspace=workspace, name="provider-key", is_default=True)
    model = CustomModelFactory(workspace=workspace, name="m")
    first = CredentialFactory(
        workspace=workspace, name="m-1", model_name="m", model_type="llm", is_default=True
    )
    second = CredentialFactory(workspace=workspace, name="m-2", model_name="m", model_type="llm")
    page = admin.get(reverse("custom-model-detail", args=["openai", model.pk])).content.decode()
    assert "m-2" in page and "provider-key" not in page  # the model's own credentials
    response = admin.post(reverse("credential-default", args=["openai", second.pk]), headers=HX)
    assert "credentialsChanged" in triggers(response)
    assert triggers(response)["toast"]["message"] == "m-2 is now the default for m."
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    assert Credential.objects.get(name="provider-key").is_default
    refreshed = admin.get(
        reverse("credential-list", args=["openai"]), {"model": model.pk}, headers=HX
    ).content.decode()
    assert "m-2" in refreshed and "provider-key" not in refreshed


def test_a_refresh_nobody_answers_times_out(admin, workspace, base_url, queued_only):
    from datetime import timedelta

    from django.utils import timezone

    from providers.models import ModelRefresh

    credential = CredentialFactory(workspace=workspace, config={"base_url": base_url})
    admin.post(reverse("model-refresh", args=["openai"]), {"credential": credential.pk}, headers=HX)
    refresh = ModelRefresh.objects.get()
    ModelRefresh.objects.filter(pk=refresh.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    response = admin.get(reverse("model-refresh-detail", args=["openai", refresh.pk]), headers=HX)
    assert response.status_code == 286
    assert "Validation timed out" in response.content.decode()


def test_a_custom_models_page_shows_its_own_status(admin, workspace, client_for):
    model = CustomModelFactory(workspace=workspace, name="m")
    CredentialFactory(workspace=workspace, model_name="m", model_type="llm", is_default=True)
    url = reverse("custom-model-detail", args=["openai", model.pk])
    status = {**HX, "HX-Target": "model-status"}
    assert "Active" in client_for("member").get(url, headers=status).content.decode()
    admin.post(
        reverse("model-toggle", args=["openai"]),
        {"model_name": "m", "model_type": "llm", "enabled": "false"},
        headers=HX,
    )
    assert "Disabled" in client_for("member").get(url, headers=status).content.decode()


@pytest.mark.parametrize("credential", ["abc", "", "1.5", "1e3", "-1", "9" * 40, " "])
def test_re_adding_with_a_credential_id_that_is_not_one_answers_404(admin, workspace, credential):
    for headers in ({}, HX):
        response = admin.post(
            reverse("custom-model-readd", args=["openai"]),
            {"credential": credential},
            headers=headers,
        )
        assert response.status_code == 404
    assert not CustomModel.objects.exists()


def test_a_re_added_custom_model_keeps_its_url(workspace, members, client_for):
    owner = members["owner"].user
    model = CustomModelFactory(workspace=workspace, name="ft-keep")
    credential = CredentialFactory(workspace=workspace, model_name="ft-keep", model_type="llm")
    url = reverse("custom-model-detail", args=["openai", model.pk])
    CustomModelFactory(workspace=workspace, name="ft-other")  # a later id was handed out
    services.custom_model_remove(custom_model=model, acting_user=owner)
    assert client_for("owner").get(url).status_code == 404
    again = services.custom_model_readd(
        workspace=workspace, credential=credential, acting_user=owner
    )
    assert reverse("custom-model-detail", args=["openai", again.pk]) == url
    assert client_for("owner").get(url).status_code == 200
