"""The operator's admin (system credentials validated before saving, secrets never shown,
model refresh), what workspaces see of the system side on their provider pages, choosing the
preferred source, and the gateway's answer once the quota is used up."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from api_keys.services import api_key_create
from invocation import api
from providers.selectors import provider_models
from system import tasks
from system.models import ProviderPreference, SystemCredential, SystemProvider
from upstream.calls import Message
from upstream.registry import get_provider
from workspaces.models import AuditEntry, User


@pytest.fixture
def operator(db) -> Client:
    user = User.objects.create_superuser(email="operator@site.test", password="x-operator-pw")
    client = Client()
    client.force_login(user)
    return client


def add_credential(operator, system, api_key: str, fake_providers):
    return operator.post(
        f"/admin/system/systemcredential/add/?system_provider={system.pk}",
        {
            "system_provider": system.pk,
            "name": "operator-second",
            "enabled": "on",
            "value_api_key": api_key,
            "value_base_url": fake_providers.base_url("openai"),
        },
    )


def test_a_wrong_system_key_is_refused_with_the_providers_reason(
    operator, system_openai, fake_providers
):
    response = add_credential(operator, system_openai, "invalid", fake_providers)
    assert response.status_code == 200
    assert b"Authentication failed" in response.content
    assert not SystemCredential.objects.filter(name="operator-second").exists()


def test_a_working_system_key_is_saved_encrypted_and_shown_masked(
    operator, system_openai, fake_providers
):
    secret = "sk-test-valid-operator-second-123456"
    response = add_credential(operator, system_openai, secret, fake_providers)
    assert response.status_code == 302, response.content.decode()[:2000]
    credential = SystemCredential.objects.get(name="operator-second")
    assert credential.secrets == {"api_key": secret}
    with connection.cursor() as cursor:  # at rest: ciphertext only
        cursor.execute(
            "SELECT secret_data FROM system_systemcredential WHERE id = %s", [credential.pk]
        )
        assert secret not in cursor.fetchone()[0]
    for url in (
        f"/admin/system/systemprovider/{system_openai.pk}/change/",
        f"/admin/system/systemcredential/{credential.pk}/change/",
    ):
        page = operator.get(url).content.decode()
        assert secret not in page
        assert "sk-…3456" in page


def test_editing_a_system_key_without_retyping_it_keeps_it(operator, system_openai, fake_providers):
    credential = system_openai.credentials.get()
    response = operator.post(
        f"/admin/system/systemcredential/{credential.pk}/change/",
        {
            "system_provider": system_openai.pk,
            "name": "operator-renamed",
            "enabled": "on",
            "value_api_key": "",
            "value_base_url": fake_providers.base_url("openai"),
        },
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert (credential.name, credential.secrets["api_key"]) == (
        "operator-renamed",
        "sk-test-valid-operator",
    )


def test_refreshed_models_reach_workspaces_without_a_release(
    operator, workspace, system_openai, quota
):
    quota(10)
    assert not any(
        r.name == "gpt-5"
        for r in provider_models(workspace=workspace, provider=get_provider("openai")).predefined
    )
    response = operator.post(
        "/admin/system/systemprovider/",
        {"action": "refresh_models", "_selected_action": [system_openai.pk]},
        follow=True,
    )
    assert b"models found" in response.content
    rows = provider_models(workspace=workspace, provider=get_provider("openai")).predefined
    gpt5 = next(r for r in rows if r.name == "gpt-5")
    assert (gpt5.source, gpt5.status.code) == ("system", "active")
    served = api.chat(workspace, "openai/gpt-5", [Message("user", "Hi")])
    assert served.value.content == "You said: Hi"


def test_the_schedule_refreshes_every_system_provider(system_openai):
    assert settings.CELERY_BEAT_SCHEDULE["refresh-system-models"]["task"] == "system.refresh_models"
    tasks.refresh_models()
    system_openai.refresh_from_db()
    assert {"name": "gpt-5", "type": "llm"} in system_openai.discovered_models
    assert system_openai.models_refreshed_at is not None


def test_offered_models_limit_what_workspaces_get(workspace, system_openai, quota):
    quota(10)
    SystemProvider.objects.filter(pk=system_openai.pk).update(offered_models=["gpt-4o-mini"])
    from workspaces.config_cache import config_forget_all

    config_forget_all()
    rows = {
        r.name: r
        for r in provider_models(workspace=workspace, provider=get_provider("openai")).predefined
    }
    assert rows["gpt-4o-mini"].status.code == "active"
    assert rows["gpt-4o"].status.code == "no-credential"


def test_the_providers_page_shows_the_system_source_and_quota(
    client_for, workspace, system_openai, quota
):
    quota(10)
    api.chat(workspace, "openai/gpt-4o-mini", [Message("user", "Hi")])
    page = client_for("member").get("/settings/model-providers/").content.decode()
    assert "Active (system)" in page
    assert "1 / 10 calls this month" in page
    assert "Free plan" in page
    detail = client_for("member").get("/settings/model-providers/openai/").content.decode()
    assert "System credentials" in detail
    assert "Active (system)" in detail  # the page's status badge
    assert 'max="100" value="10"' in detail  # the quota bar: 10 %
    assert "Owners and admins can change it" in detail  # read-only for members
    assert "sk-test-valid-operator" not in page + detail


def test_a_used_up_quota_shows_on_the_models(client_for, workspace, system_openai, quota):
    quota(0)
    detail = client_for("member").get("/settings/model-providers/openai/").content.decode()
    assert "Quota exceeded" in detail
    assert "0 / 0 calls this month" in detail


def test_admins_choose_the_preferred_source(client_for, workspace, system_openai, quota):
    quota(10)
    response = client_for("admin").post(
        "/settings/model-providers/openai/preference/",
        {"preferred": "custom"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Your own (custom)" in response.content.decode()
    assert ProviderPreference.objects.get(workspace=workspace).preferred == "custom"
    assert AuditEntry.objects.filter(action="provider.preference").exists()
    # Nothing of its own configured: the system still serves, and the card says why.
    assert "none is set up, so the system" in response.content.decode()
    bad = client_for("admin").post(
        "/settings/model-providers/openai/preference/", {"preferred": "both"}
    )
    assert bad.status_code == 302
    assert ProviderPreference.objects.get(workspace=workspace).preferred == "custom"


def test_the_gateway_answers_429_insufficient_quota(
    client, workspace, members, system_openai, quota
):
    quota(1)
    key = api_key_create(workspace=workspace, name="app", acting_user=members["owner"].user)
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    headers = {"Authorization": f"Bearer {key.secret}"}
    first = client.post(
        "/v1/chat/completions", body, content_type="application/json", headers=headers
    )
    assert first.status_code == 200
    second = client.post(
        "/v1/chat/completions", body, content_type="application/json", headers=headers
    )
    assert second.status_code == 429
    error = second.json()["error"]
    assert (error["type"], error["code"]) == ("insufficient_quota", "quota_exceeded")
    assert error["message"].startswith("OpenAI quota exceeded for this workspace's plan")
    assert int(second["Retry-After"]) > 0


def test_the_admin_offers_credential_fields_and_plan_quotas(operator, system_openai, free_plan):
    add = operator.get(f"/admin/system/systemcredential/add/?system_provider={system_openai.pk}")
    assert 'name="value_api_key"' in add.content.decode()
    assert 'type="password"' in add.content.decode()
    provider_page = operator.get(f"/admin/system/systemprovider/{system_openai.pk}/change/")
    assert "Add credential" in provider_page.content.decode()
    plan_page = operator.get(f"/admin/workspaces/plan/{free_plan.pk}/change/")
    assert "Plan quotas" in plan_page.content.decode()


def test_repointing_a_system_key_without_retyping_it_sends_nothing_and_asks_for_it(
    operator, system_openai, elsewhere
):
    credential = system_openai.credentials.get()
    response = operator.post(
        f"/admin/system/systemcredential/{credential.pk}/change/",
        {
            "system_provider": system_openai.pk,
            "name": "operator-main",
            "enabled": "on",
            "value_api_key": "",
            "value_base_url": elsewhere.base_url("openai"),
        },
    )
    assert not any("sk-test-valid-operator" in str(r.headers) for r in elsewhere.requests), (
        "the stored key reached the new address"
    )
    assert response.status_code == 200
    assert "API Base URL changed: type the API Key again" in response.content.decode()
    credential.refresh_from_db()
    assert credential.config["base_url"] != elsewhere.base_url("openai")
