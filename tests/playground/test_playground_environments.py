"""The playground in an environment: the chat and media tabs offer the workspace's environments
(the default one chosen first), run in the one chosen (its pins serve it, the usage record
names it), say which credential served the answer in which environment, and refuse another
workspace's environment."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from balancing.services import pin_set
from invocation.models import UsageRecord
from tests.factories import CredentialFactory
from tests.playground.test_playground import RUN, STREAM, events
from workspaces.services import default_environment, environment_create

PAGE = reverse("playground")


@pytest.fixture
def development(workspace, members, fake_providers, openai_key):
    """Production uses the default OpenAI credential (prod-key); Development pins dev-key."""
    default_environment(workspace)
    development = environment_create(
        workspace=workspace, name="Development", acting_user=members["owner"].user
    )
    dev_key = CredentialFactory(
        workspace=workspace,
        name="dev-key",
        secret_data=json.dumps({"api_key": "sk-test-dev"}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    pin_set(
        environment=development,
        provider="openai",
        credential=dev_key,
        acting_user=members["owner"].user,
    )
    return development


def authorizations(fake_providers) -> list[str]:
    return [
        r.headers["authorization"]
        for r in fake_providers.requests
        if r.method == "POST" and r.path.endswith("/chat/completions")
    ]


def test_the_page_offers_the_environments_with_the_default_chosen(client_for, development):
    html = client_for("member").get(PAGE).content.decode()
    select = html.split('name="environment"', 1)[1].split("</select>", 1)[0]
    production = default_environment(development.workspace)
    assert f'<option value="{production.pk}" selected>Production</option>' in select
    assert f'<option value="{development.pk}">Development</option>' in select
    assert '<label class="form-label" for="id_environment">Environment</label>' in html


def test_with_one_environment_the_choice_is_hidden(client_for, workspace, openai_key):
    html = client_for("member").get(PAGE).content.decode()
    assert 'type="hidden" name="environment"' in html and '<select name="environment"' not in html


def test_a_run_in_development_is_served_by_its_pin_and_says_so(
    client_for, development, fake_providers
):
    response = client_for("member").post(
        RUN,
        {"model": "openai/gpt-4o-mini", "prompt": "Hi", "environment": development.pk},
        headers=STREAM,
    )
    done = events(response)[-1][1]
    assert (done["credential"], done["environment"]) == ("dev-key", "Development")
    assert authorizations(fake_providers) == ["Bearer sk-test-dev"]
    record = UsageRecord.objects.get()
    assert (record.environment_id, record.environment_name) == (development.pk, "Development")


def test_a_run_without_a_choice_is_in_the_default_environment(
    client_for, development, fake_providers
):
    response = client_for("member").post(
        RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hi"}, headers=STREAM
    )
    done = events(response)[-1][1]
    assert (done["credential"], done["environment"]) == ("prod-key", "Production")
    assert UsageRecord.objects.get().environment_name == "Production"


def test_the_page_without_javascript_names_credential_and_environment(client_for, development):
    html = (
        client_for("member")
        .post(RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hi", "environment": development.pk})
        .content.decode()
    )
    assert 'data-meta="credential">dev-key<' in html
    assert 'data-meta="environment">Development<' in html


def test_another_workspaces_environment_is_refused(
    client_for, development, other_workspace, fake_providers
):
    theirs = default_environment(other_workspace["workspace"])
    response = client_for("member").post(
        RUN,
        {"model": "openai/gpt-4o-mini", "prompt": "Hi", "environment": theirs.pk},
        headers=STREAM,
    )
    assert response.status_code == 422
    assert "environment" in response.json()["fields"]
    assert not authorizations(fake_providers) and not UsageRecord.objects.exists()


def test_the_model_field_follows_the_environment_asked_for(
    client_for, workspace, members, fake_providers
):
    """No default Anthropic credential; Development pins one: Claude is usable there only."""
    default_environment(workspace)
    development = environment_create(
        workspace=workspace, name="Development", acting_user=members["owner"].user
    )
    pin_set(
        environment=development,
        provider="anthropic",
        credential=CredentialFactory(workspace=workspace, provider="anthropic", name="claude"),
        acting_user=members["owner"].user,
    )
    client = client_for("member")
    model = "anthropic/claude-sonnet-4-5-20250929"
    in_production = client.get(PAGE).content.decode()
    in_development = client.get(PAGE, {"environment": development.pk}).content.decode()
    radio = f'value="{model}"'
    assert radio in in_production and radio in in_development
    assert "disabled" in in_production.split(radio, 1)[1].split(">", 1)[0]
    assert "disabled" not in in_development.split(radio, 1)[1].split(">", 1)[0]
    # The select re-renders the model field through HTMX.
    assert 'hx-target="#model-field"' in in_development and 'id="model-field"' in in_development


def test_a_media_tab_runs_in_the_chosen_environment(client_for, workspace, members, fake_providers):
    from tests.media import media_keys

    media_keys(workspace, fake_providers)
    default_environment(workspace)
    development = environment_create(
        workspace=workspace, name="Development", acting_user=members["owner"].user
    )
    html = client_for("member").get(reverse("playground-rerank")).content.decode()
    assert 'name="environment"' in html
    response = client_for("member").post(
        reverse("playground-rerank"),
        {
            "model": "cohere/rerank-v3.5",
            "query": "fox",
            "documents": "a red fox\na blue whale",
            "environment": development.pk,
        },
    )
    html = response.content.decode()
    assert response.status_code == 200, html
    assert 'data-result="environment">Development<' in html
    assert UsageRecord.objects.get().environment_name == "Development"
