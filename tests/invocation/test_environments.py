"""Model resolution and the list of usable models follow the environment: a model is usable
in an environment when its route there has a credential (its pin, its own pool, or the
workspace's default), and the resolution cache keeps environments apart."""

from __future__ import annotations

import json

import pytest

from balancing.services import ModelRef, pin_set, pool_entry_add, pool_set_enabled
from invocation import api
from invocation.models import UsageRecord
from providers.selectors import ModelUnavailable, provider_models
from tests.factories import CredentialFactory, WorkspaceFactory
from upstream.calls import Message
from upstream.registry import get_provider
from workspaces.services import default_environment, environment_create

pytestmark = pytest.mark.django_db


def key(workspace, fake_providers, name, *, is_default=False):
    return CredentialFactory(
        workspace=workspace,
        name=name,
        is_default=is_default,
        secret_data=json.dumps({"api_key": f"sk-test-{name}"}),
        config={"base_url": fake_providers.base_url("openai")},
    )


@pytest.fixture
def development(workspace, members):
    default_environment(workspace)
    return environment_create(
        workspace=workspace, name="Development", acting_user=members["owner"].user
    )


@pytest.fixture
def pinned_only_in_development(workspace, members, fake_providers, development):
    """No default OpenAI credential; Development pins one for the provider."""
    dev_key = key(workspace, fake_providers, "dev-key")
    pin_set(
        environment=development,
        provider="openai",
        credential=dev_key,
        acting_user=members["owner"].user,
    )
    return dev_key


def test_a_model_pinned_only_in_development_is_usable_there_and_refused_in_production(
    workspace, development, pinned_only_in_development
):
    handle = api.resolve(workspace, "openai/gpt-4o-mini", "llm", development.pk)
    assert handle.name == "gpt-4o-mini"
    with pytest.raises(ModelUnavailable):
        api.resolve(workspace, "openai/gpt-4o-mini", "llm")
    with pytest.raises(ModelUnavailable):
        api.resolve(workspace, "openai/gpt-4o-mini", "llm", default_environment(workspace).pk)
    # The cache keeps them apart, in both orders.
    assert api.resolve(workspace, "openai/gpt-4o-mini", "llm", development.pk).name


def test_a_call_in_development_is_served_by_its_pin(
    workspace, development, pinned_only_in_development, fake_providers
):
    served = api.chat(
        workspace, "openai/gpt-4o-mini", [Message("user", "Hi")], environment=development
    )
    assert served.credential.name == "dev-key"
    record = UsageRecord.objects.get()
    assert (record.environment_id, record.environment_name) == (development.pk, "Development")
    with pytest.raises(ModelUnavailable):
        api.chat(workspace, "openai/gpt-4o-mini", [Message("user", "Hi")])


def test_usable_models_follow_the_environment(workspace, development, pinned_only_in_development):
    in_development = {h.id for h in api.usable_models(workspace, environment=development)}
    in_production = {h.id for h in api.usable_models(workspace)}
    assert "openai/gpt-4o-mini" in in_development
    assert "openai/gpt-4o-mini" not in in_production
    assert {h.id for h in api.usable_models(workspace, environment=development.pk)} == (
        in_development
    )


def test_usable_models_refuse_another_workspaces_environment(workspace, development):
    other = WorkspaceFactory(name="Other", slug="other")
    with pytest.raises(api.InvalidInput):
        api.usable_models(other, environment=development)


def test_a_failing_pin_makes_the_model_unusable_in_its_environment_only(
    workspace, members, fake_providers, development
):
    key(workspace, fake_providers, "prod-key", is_default=True)
    broken = key(workspace, fake_providers, "broken")
    broken.status = "failing"
    broken.save()
    pin_set(
        environment=development,
        provider="openai",
        credential=broken,
        acting_user=members["owner"].user,
    )
    assert api.resolve(workspace, "openai/gpt-4o", "llm").name == "gpt-4o"
    with pytest.raises(ModelUnavailable, match="failing"):
        api.resolve(workspace, "openai/gpt-4o", "llm", development.pk)


def test_an_environment_pool_makes_its_model_usable_there(
    workspace, members, fake_providers, development, pro_plan
):
    workspace.plan = pro_plan
    workspace.save()
    owner = members["owner"].user
    ref = ModelRef("openai", "gpt-4o", "llm", environment=development.pk)
    for name in ("pool-a", "pool-b"):
        pool_entry_add(
            workspace=workspace,
            ref=ref,
            credential=key(workspace, fake_providers, name),
            acting_user=owner,
        )
    pool_set_enabled(workspace=workspace, ref=ref, enabled=True, acting_user=owner)

    rows = provider_models(
        workspace=workspace, provider=get_provider("openai"), environment=development.pk
    )
    gpt = next(r for r in rows.predefined if r.name == "gpt-4o")
    assert gpt.status.usable and gpt.load_balancing
    other = next(r for r in rows.predefined if r.name == "gpt-4o-mini")
    assert not other.status.usable  # no default, no pin: its own pool is gpt-4o's only
    workspace_rows = provider_models(workspace=workspace, provider=get_provider("openai"))
    assert not next(r for r in workspace_rows.predefined if r.name == "gpt-4o").status.usable


def test_a_warm_resolution_in_an_environment_asks_the_database_nothing(
    workspace, development, pinned_only_in_development, django_assert_num_queries
):
    api.resolve(workspace, "openai/gpt-4o-mini", "llm", development.pk)
    with django_assert_num_queries(0):
        for _ in range(3):
            api.resolve(workspace, "openai/gpt-4o-mini", "llm", development.pk)
