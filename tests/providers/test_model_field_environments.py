"""The model field in an environment: its statuses are those of the environment given (by
default the workspace's default one), so a model only an environment's pin serves can be chosen
there and nowhere else; the search keeps the widget's environment, and another workspace's
environment id falls back to the default."""

from __future__ import annotations

import pytest

from balancing.services import pin_set
from providers.fields import ModelField, WorkspaceForm
from tests.factories import CredentialFactory
from tests.providers.test_model_field import PickerPage, search
from workspaces.services import default_environment, environment_create


@pytest.fixture
def development(workspace, members):
    """No default OpenAI credential: Development pins one for the provider."""
    default_environment(workspace)
    development = environment_create(
        workspace=workspace, name="Development", acting_user=members["owner"].user
    )
    pin_set(
        environment=development,
        provider="openai",
        credential=CredentialFactory(workspace=workspace, name="dev"),
        acting_user=members["owner"].user,
    )
    return development


class PickForm(WorkspaceForm):
    model = ModelField(model_type="llm", label="Model")


class TwoModelsForm(WorkspaceForm):
    chat = ModelField(model_type="llm", label="Chat")
    embeddings = ModelField(model_type="text-embedding", label="Embeddings")


def test_the_field_judges_models_in_the_default_environment_by_default(workspace, development):
    page = PickerPage(str(PickForm(workspace=workspace)["model"]))
    assert "disabled" in page.radio("openai/gpt-4o-mini")
    form = PickForm({"model": "openai/gpt-4o-mini"}, workspace=workspace)
    assert not form.is_valid()
    assert "cannot be used" in str(form.errors["model"])


def test_the_field_follows_the_environment_given(workspace, development):
    page = PickerPage(str(PickForm(workspace=workspace, environment=development)["model"]))
    assert "disabled" not in page.radio("openai/gpt-4o-mini")
    form = PickForm({"model": "openai/gpt-4o-mini"}, workspace=workspace, environment=development)
    assert form.is_valid(), form.errors
    by_id = PickForm(
        {"model": "openai/gpt-4o-mini"}, workspace=workspace, environment=development.pk
    )
    assert by_id.is_valid(), by_id.errors


def test_a_field_declared_with_an_environment_follows_it(workspace, development):
    class DevForm(WorkspaceForm):
        model = ModelField(model_type="llm", environment=development.pk)

    assert DevForm({"model": "openai/gpt-4o-mini"}, workspace=workspace).is_valid()


def test_several_fields_share_the_environments_options(workspace, development):
    form = TwoModelsForm(
        {"chat": "openai/gpt-4o-mini", "embeddings": "openai/text-embedding-3-small"},
        workspace=workspace,
        environment=development,
    )
    assert form.is_valid(), form.errors
    assert form.fields["chat"].environment_id == development.pk


def test_the_widget_asks_the_search_for_its_environment(workspace, development):
    html = str(PickForm(workspace=workspace, environment=development)["model"])
    assert f'"environment": "{development.pk}"' in html


def test_the_search_lists_statuses_in_the_environment_asked(client_for, workspace, development):
    client = client_for("member")
    in_development = PickerPage(
        search(client, q="4o mini", environment=development.pk).content.decode()
    )
    assert "disabled" not in in_development.radio("openai/gpt-4o-mini")
    by_default = PickerPage(search(client, q="4o mini").content.decode())
    assert "disabled" in by_default.radio("openai/gpt-4o-mini")


def test_the_search_ignores_another_workspaces_environment(
    client_for, workspace, development, other_workspace
):
    theirs = default_environment(other_workspace["workspace"])
    page = PickerPage(
        search(client_for("member"), q="4o mini", environment=theirs.pk).content.decode()
    )
    assert "disabled" in page.radio("openai/gpt-4o-mini")  # judged in this workspace's default
    garbage = search(client_for("member"), q="4o mini", environment="9" * 40)
    assert garbage.status_code == 200
