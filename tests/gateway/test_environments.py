"""Environments through the production server: keys of two environments call the same model at
the same time, and each upstream request carries only its own environment's credential (the
Authorization header the fake OpenAI saw); the same with a pool of two credentials in one
environment and a single credential in the other; and `/v1/models` follows the key."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from api_keys.services import api_key_create
from balancing.services import ModelRef, pin_set, pool_configure
from invocation.models import UsageRecord
from tests.factories import CredentialFactory
from tests.production_server import eventually
from workspaces.services import default_environment, environment_create

pytestmark = pytest.mark.django_db(transaction=True)  # the server sees committed rows only

CALLS = 12  # per environment, all at once


def credential(workspace, fake_providers, name, *, is_default=False):
    return CredentialFactory(
        workspace=workspace,
        name=name,
        is_default=is_default,
        secret_data=json.dumps({"api_key": f"sk-test-{name}"}),
        config={"base_url": fake_providers.base_url("openai")},
    )


@pytest.fixture
def environments(workspace, members):
    owner = members["owner"].user
    production = default_environment(workspace)
    development = environment_create(workspace=workspace, name="Development", acting_user=owner)
    keys = {
        "Production": api_key_create(
            workspace=workspace, name="prod-app", acting_user=owner, environment=production
        ),
        "Development": api_key_create(
            workspace=workspace, name="dev-app", acting_user=owner, environment=development
        ),
    }
    return {"Production": production, "Development": development, "keys": keys}


def call_both_at_once(server, keys) -> dict[str, list[int]]:
    """CALLS chat completions per environment, interleaved on threads; each message names its
    environment and number so the upstream request can be traced back to its key."""
    jobs = [(env, i) for i in range(CALLS) for env in ("Production", "Development")]

    def call(job):
        env, i = job
        status, _, body = server.request(
            "POST",
            "/v1/chat/completions",
            key=keys[env].secret,
            body={
                "model": "openai/gpt-4o-mini",
                "messages": [{"role": "user", "content": f"{env} call {i}"}],
            },
        )
        return env, status, body

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, jobs))
    failures = [(env, status, body[:200]) for env, status, body in results if status != 200]
    assert not failures
    return {env: [i for e, i in jobs if e == env] for env in ("Production", "Development")}


def upstream_authorizations(fake_providers) -> dict[str, list[str]]:
    """{environment: the Authorization headers of the chat requests its calls sent}."""
    seen: dict[str, list[str]] = {"Production": [], "Development": []}
    for request in fake_providers.requests_to("/openai/"):
        if not request.path.endswith("/chat/completions"):
            continue
        content = json.loads(request.body)["messages"][-1]["content"]
        seen[content.split(" ", 1)[0]].append(request.headers["authorization"])
    return seen


def test_two_environments_calling_at_once_each_reach_upstream_with_their_own_credential(
    server, redis_url, workspace, members, fake_providers, environments
):
    credential(workspace, fake_providers, "prod-key", is_default=True)
    dev = credential(workspace, fake_providers, "dev-key")
    pin_set(
        environment=environments["Development"],
        provider="openai",
        credential=dev,
        acting_user=members["owner"].user,
    )

    call_both_at_once(server, environments["keys"])

    seen = upstream_authorizations(fake_providers)
    assert seen["Production"] == ["Bearer sk-test-prod-key"] * CALLS
    assert seen["Development"] == ["Bearer sk-test-dev-key"] * CALLS
    eventually(
        lambda: UsageRecord.objects.count() == 2 * CALLS, timeout=5, what="the usage records"
    )
    by_environment = Counter(UsageRecord.objects.values_list("environment_name", "credential_name"))
    assert by_environment == {("Production", "prod-key"): CALLS, ("Development", "dev-key"): CALLS}


def test_a_pool_in_one_environment_and_a_single_credential_in_the_other(
    server, redis_url, workspace, members, fake_providers, environments, pro_plan
):
    workspace.plan = pro_plan
    workspace.save()
    owner = members["owner"].user
    credential(workspace, fake_providers, "prod-key", is_default=True)
    ref = ModelRef("openai", "gpt-4o-mini", "llm", environment=environments["Development"].pk)
    pool_configure(  # exactly two entries: no Default Config
        workspace=workspace,
        ref=ref,
        entries=[(credential(workspace, fake_providers, n), True) for n in ("a", "b")],
        enabled=True,
        acting_user=owner,
    )

    call_both_at_once(server, environments["keys"])

    seen = upstream_authorizations(fake_providers)
    assert seen["Production"] == ["Bearer sk-test-prod-key"] * CALLS
    # Round-robin over the Development pool's two credentials, and nothing else.
    assert Counter(seen["Development"]) == {
        "Bearer sk-test-a": CALLS // 2,
        "Bearer sk-test-b": CALLS // 2,
    }


def test_models_list_follows_the_keys_environment(
    server, redis_url, workspace, members, fake_providers, environments
):
    """No default OpenAI credential: only Development, which pins one, lists OpenAI's models;
    a Production key is refused a call to them, a Development key is served."""
    dev = credential(workspace, fake_providers, "dev-key")
    pin_set(
        environment=environments["Development"],
        provider="openai",
        credential=dev,
        acting_user=members["owner"].user,
    )
    keys = environments["keys"]

    status, production = server.get("/v1/models", key=keys["Production"].secret)
    assert status == 200
    status, development = server.get("/v1/models", key=keys["Development"].secret)
    assert status == 200
    production_ids = {m["id"] for m in production["data"]}
    development_ids = {m["id"] for m in development["data"]}
    assert "openai/gpt-4o-mini" in development_ids
    assert not any(model.startswith("openai/") for model in production_ids)

    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    status, _, answer = server.request(
        "POST", "/v1/chat/completions", key=keys["Production"].secret, body=body
    )
    assert status == 403
    assert json.loads(answer)["error"]["code"] == "model_unavailable"
    status, _, answer = server.request(
        "POST", "/v1/chat/completions", key=keys["Development"].secret, body=body
    )
    assert status == 200
    assert json.loads(answer)["model"] == "openai/gpt-4o-mini"
