"""A custom model's features (issue 21): set on Add Model, edited on its page and in the
admin, kept working across the upgrade, and checked by the gateway like a catalog model's."""

from __future__ import annotations

import json
import re

import openai
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from credentials.models import Credential, CustomModel, default_custom_model_features
from tests.factories import CredentialFactory, CustomModelFactory, UserFactory
from workspaces.config_cache import ConfigKind, config_changed
from workspaces.models import AuditEntry

HX = {"HX-Request": "true"}
LLM_DEFAULTS = ["vision", "tool-call", "json-mode", "structured-output", "streaming", "reasoning"]
TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def ticked(html: str) -> list[str]:
    """The features a form's checkboxes have ticked."""
    inputs = re.findall(r"<input[^>]*>", html)
    return [
        re.search(r'value="([^"]+)"', tag).group(1)
        for tag in inputs
        if 'name="features"' in tag and re.search(r"\schecked\b", tag)
    ]


def triggers(response) -> dict:
    return json.loads(response.get("HX-Trigger", "{}"))


def test_a_chat_models_default_features_are_every_feature_a_chat_is_checked_against():
    assert list(default_custom_model_features("llm")) == LLM_DEFAULTS
    assert default_custom_model_features("text-embedding") == ()


def test_add_model_stores_the_ticked_features(client_for, workspace, fake_providers):
    response = client_for("admin").post(
        reverse("custom-model-create", args=["openai"]),
        {
            "model_name": "my-finetune",
            "model_type": "llm",
            "features": ["streaming", "tool-call"],
            "api_key": "sk-test-valid-custom-0001",
            "base_url": fake_providers.base_url("openai"),
        },
        headers=HX,
    )

    assert "credentialsChanged" in triggers(response)
    model = CustomModel.objects.get(workspace=workspace, name="my-finetune")
    assert model.features == ["tool-call", "streaming"]
    entry = AuditEntry.objects.get(workspace=workspace, action="model.add")
    assert entry.details["features"] == ["tool-call", "streaming"]


def test_the_add_model_form_offers_the_features_ticked_for_a_chat_model(client_for, workspace):
    page = client_for("admin").get(reverse("custom-model-create", args=["openai"]), headers=HX)

    html = page.content.decode()
    assert 'name="features"' in html and "Tool calling" in html
    for feature in LLM_DEFAULTS:
        assert f'value="{feature}"' in html
    assert ticked(html) == LLM_DEFAULTS


def test_a_models_page_shows_its_features_and_edit_saves_them(client_for, workspace):
    model = CustomModelFactory(workspace=workspace, name="ft")
    admin = client_for("admin")
    page = admin.get(reverse("custom-model-detail", args=["openai", model.pk]))
    assert "Tool calling" in page.content.decode() and "Edit features" in page.content.decode()

    form = admin.get(reverse("custom-model-update", args=["openai", model.pk]), headers=HX)
    assert form.status_code == 200 and 'value="vision"' in form.content.decode()
    response = admin.post(
        reverse("custom-model-update", args=["openai", model.pk]),
        {"features": ["vision"]},
        headers=HX,
    )

    assert response.status_code == 200
    assert "modelsChanged" in triggers(response)
    model.refresh_from_db()
    assert model.features == ["vision"]
    entry = AuditEntry.objects.get(workspace=workspace, action="model.features")
    assert entry.details == {"before": LLM_DEFAULTS, "after": ["vision"]}
    fragment = admin.get(
        reverse("custom-model-detail", args=["openai", model.pk]),
        headers={**HX, "HX-Target": "model-features"},
    )
    assert "Vision" in fragment.content.decode() and "<html" not in fragment.content.decode()


def test_an_unknown_feature_is_a_form_error(client_for, workspace):
    model = CustomModelFactory(workspace=workspace, name="ft")
    response = client_for("admin").post(
        reverse("custom-model-update", args=["openai", model.pk]),
        {"features": ["telepathy"]},
        headers=HX,
    )
    assert response.status_code == 422
    model.refresh_from_db()
    assert model.features == LLM_DEFAULTS


@pytest.mark.parametrize("role", ["editor", "member"])
def test_only_managers_edit_features(client_for, workspace, role):
    model = CustomModelFactory(workspace=workspace, name="ft")
    response = client_for(role).post(
        reverse("custom-model-update", args=["openai", model.pk]), {"features": []}, headers=HX
    )
    assert response.status_code == 403
    model.refresh_from_db()
    assert model.features == LLM_DEFAULTS


def test_another_workspaces_model_answers_404(client_for, workspace, other_workspace):
    theirs = CustomModelFactory(workspace=other_workspace["workspace"], name="theirs")
    response = client_for("admin").post(
        reverse("custom-model-update", args=["openai", theirs.pk]), {"features": []}, headers=HX
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.features == LLM_DEFAULTS


def test_the_admin_edits_features_through_the_service(workspace):
    model = CustomModelFactory(workspace=workspace, name="ft")
    staff = Client()
    staff.force_login(UserFactory(email="op@site.test", is_staff=True, is_superuser=True))
    url = reverse("admin:credentials_custommodel_change", args=[model.pk])
    assert staff.get(url).status_code == 200

    response = staff.post(url, {"features": ["json-mode", "streaming"]})

    assert response.status_code == 302
    model.refresh_from_db()
    assert model.features == ["json-mode", "streaming"]
    entry = AuditEntry.objects.get(workspace=workspace, action="model.features")
    assert entry.actor.email == "op@site.test" and entry.operator  # staff, as the operator


# -- the gateway checks a custom model's features ----------------------------------------------


@pytest.fixture
def sdk(live_server, api_key):
    client = openai.OpenAI(
        api_key=api_key.secret, base_url=f"{live_server.url}/v1", max_retries=0, timeout=10
    )
    yield client
    client.close()


@pytest.fixture
def ollama_model(workspace, fake_providers):
    model = CustomModelFactory(workspace=workspace, provider="ollama", name="llama3.2")
    CredentialFactory(
        workspace=workspace,
        provider="ollama",
        model_name="llama3.2",
        model_type="llm",
        name="ollama-key",
        is_default=True,
        secret_data=json.dumps({}),
        config={"base_url": fake_providers.base_url("ollama")},
    )
    return model


def test_tools_reach_a_custom_model_with_the_default_features(sdk, ollama_model):
    completion = sdk.chat.completions.create(
        model="ollama/llama3.2", messages=[{"role": "user", "content": "hi"}], tools=[TOOL]
    )
    assert completion.choices[0].finish_reason == "tool_calls"


def test_tools_are_refused_for_a_custom_model_without_tool_call(sdk, ollama_model, fake_providers):
    ollama_model.features = ["streaming"]
    ollama_model.save()
    config_changed(ollama_model.workspace_id, ConfigKind.MODELS)
    fake_providers.reset()

    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(
            model="ollama/llama3.2", messages=[{"role": "user", "content": "hi"}], tools=[TOOL]
        )

    assert raised.value.body["param"] == "tools"
    assert "no tool-call feature" in raised.value.body["message"]
    assert not [r for r in fake_providers.requests_to("/ollama/") if r.method == "POST"]


def test_v1_models_lists_a_custom_models_features(sdk, ollama_model):
    listed = {m.id: m for m in sdk.models.list()}
    assert listed["ollama/llama3.2"].model_extra["features"] == LLM_DEFAULTS


# -- the upgrade keeps today's custom models working --------------------------------------------


@pytest.fixture
def migrations_restored(transactional_db):
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_existing_custom_models_get_the_features_that_refuse_nothing_they_did(
    migrations_restored,
):
    executor = MigrationExecutor(connection)
    before = [("credentials", "0003_custommodel")]
    executor.migrate(before)
    apps = MigrationExecutor(connection).loader.project_state(before).apps
    Workspace = apps.get_model("workspaces", "Workspace")
    Model = apps.get_model("credentials", "CustomModel")
    workspace = Workspace.objects.create(name="Up", slug="up")
    Model.objects.create(workspace=workspace, provider="ollama", name="llama3.2", type="llm")
    Model.objects.create(
        workspace=workspace, provider="ollama", name="nomic", type="text-embedding"
    )

    executor = MigrationExecutor(connection)
    executor.migrate([("credentials", "0004_custom_model_features")])

    features = dict(CustomModel.objects.values_list("name", "features"))
    assert features == {"llama3.2": LLM_DEFAULTS, "nomic": []}


# -- Refresh models fills features where the provider says them -------------------------------


def test_refresh_models_fills_a_custom_models_features_from_ollamas_capabilities(
    client_for, workspace, ollama_model
):
    admin = client_for("admin")
    credential = Credential.objects.get(workspace=workspace, name="ollama-key")

    response = admin.post(
        reverse("model-refresh", args=["ollama"]), {"credential": credential.pk}, headers=HX
    )

    html = response.content.decode()
    ollama_model.refresh_from_db()
    # llama3.2 reports completion and tools: no vision, no reasoning.
    assert ollama_model.features == ["tool-call", "json-mode", "structured-output", "streaming"]
    entry = AuditEntry.objects.get(workspace=workspace, action="model.features")
    assert entry.operator and "Refresh models" in entry.operator
    # Another model's Add Model comes with what Ollama said it can do.
    assert "feature=vision" in html and "llava:13b" in html
    form = admin.get(
        reverse("custom-model-create", args=["ollama"]) + "?model=llava:13b&type=llm"
        "&feature=vision&feature=streaming",
        headers=HX,
    ).content.decode()
    assert ticked(form) == ["vision", "streaming"]
