"""Calls through a model's pool against the fake OpenAI on loopback: rotation by weight,
failover, cooldowns, credentials marked failing, rate-limit headers, the all-unavailable
error, and the live pool view that shows all of it."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from django.urls import reverse

from balancing.routing import PoolUnavailable
from balancing.runtime import get_stats
from balancing.services import ModelRef, pool_entry_add, pool_set_enabled
from credentials.models import Credential
from invocation.failover import NoCredential, invoke, rate_limit_status
from tests.factories import CredentialFactory
from tests.helpers import stats_window
from upstream.calling import get_adapter
from upstream.errors import AuthenticationFailed, RateLimited
from upstream.http import Request, Response
from upstream.registry import get_provider
from upstream.transports.sync import SyncTransport

GPT = ModelRef("openai", "gpt-4o", "llm")


def list_models(credential: Credential) -> Response:
    """A real call through the OpenAI adapter's wire format, returning the response (with its
    headers, as the chat adapters will)."""
    adapter = get_adapter(get_provider("openai"))
    values = credential.values()
    response = SyncTransport().send(
        Request("GET", f"{adapter.base_url(values)}/models", headers=adapter.headers(values))
    )
    if response.status >= 400:
        raise adapter.classify(response, secrets=adapter.secrets(values))
    return response


@pytest.fixture(params=["local", "redis"])
def routing(request, settings):
    """Runs the test on process-local routing and on the real Redis."""
    settings.REDIS_URL = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    return request.param


@pytest.fixture
def pool(workspace, members, fake_providers, routing, pro_plan):
    """A pro workspace whose gpt-4o pool is [Default Config (key-a), key-b, key-b, key-c]."""
    workspace.plan = pro_plan
    workspace.save()
    owner = members["owner"].user
    keys = {}
    for name in ("key-a", "key-b", "key-c"):
        keys[name] = make_key(workspace, fake_providers, name, is_default=name == "key-a")
    for name in ("key-b", "key-b", "key-c"):
        pool_entry_add(workspace=workspace, ref=GPT, credential=keys[name], acting_user=owner)
    pool_set_enabled(workspace=workspace, ref=GPT, enabled=True, acting_user=owner)
    return keys


def make_key(workspace, fake_providers, name, *, api_key="sk-test-valid-1", is_default=False):
    return CredentialFactory(
        workspace=workspace,
        name=name,
        is_default=is_default,
        secret_data=json.dumps({"api_key": api_key}),
        config={"base_url": fake_providers.base_url("openai")},
    )


def set_key(credential: Credential, api_key: str) -> None:
    """Changes a stored key (what the provider will now answer to it), as an edit would."""
    from workspaces.config_cache import config_forget_all

    credential.secret_data = json.dumps({"api_key": api_key})
    credential.save()
    config_forget_all()


def served(workspace, count: int) -> list[str]:
    return [
        invoke(workspace=workspace, ref=GPT, call=list_models).credential.name for _ in range(count)
    ]


def test_calls_rotate_over_the_entries_by_weight(workspace, pool):
    assert served(workspace, 8) == ["key-a", "key-b", "key-b", "key-c"] * 2


def test_a_rate_limited_entry_fails_over_and_cools_down(workspace, pool, client_for):
    set_key(pool["key-b"], "sk-ratelimited-b")
    first = served(workspace, 4)
    assert first == ["key-a", "key-c", "key-a", "key-c"]  # key-b failed over, then skipped
    page = client_for("admin").get(reverse("pool-state", args=["openai"]) + "?" + GPT.query)
    states = {row["credential"]: row for row in page.json()["credentials"]}
    assert states["key-b"]["state"] == "cooling down"
    assert states["key-b"]["reason"] == "rate_limited"
    assert states["key-b"]["errors_5m"] == 1 and states["key-b"]["requests_5m"] == 1
    assert states["key-a"]["requests_60m"] == 2 and states["key-a"]["errors_60m"] == 0
    assert states["key-c"]["observed_share"] == 40.0  # 2 of the 5 requests
    assert states["key-b"]["configured_share"] == 50.0


def test_an_authentication_failure_marks_the_credential_failing(workspace, pool, client_for):
    set_key(pool["key-c"], "sk-invalid-c")
    assert served(workspace, 4) == ["key-a", "key-b", "key-b", "key-a"]
    credential = Credential.objects.get(pk=pool["key-c"].pk)
    assert credential.status == "failing"
    assert credential.last_error_code == "authentication_failed"
    assert "Incorrect API key" in credential.last_error_message
    assert "sk-invalid-c" not in credential.last_error_message
    assert Counter(served(workspace, 9)) == {"key-a": 3, "key-b": 6}  # out until re-validated
    html = client_for("admin").get(reverse("provider-detail", args=["openai"])).content.decode()
    assert "Failing" in html and "Incorrect API key" in html


def test_when_every_entry_fails_the_error_says_which_and_when_to_retry(workspace, pool):
    for name in ("key-a", "key-b", "key-c"):
        set_key(pool[name], f"sk-ratelimited-{name}")
    with pytest.raises(PoolUnavailable) as caught:
        invoke(workspace=workspace, ref=GPT, call=list_models)
    error = caught.value
    assert 59 <= error.retry_after <= 60
    assert "all 3 entries are cooling down" in error.message
    assert "“key-a”: Rate limited" in error.message and "“key-c”" in error.message
    assert isinstance(error.__cause__, RateLimited)
    with pytest.raises(PoolUnavailable, match="retry in 60 s"):  # fails fast: nothing is tried
        invoke(workspace=workspace, ref=GPT, call=list_models)


def test_a_pool_of_failing_credentials_needs_them_fixed(workspace, pool):
    Credential.objects.filter(workspace=workspace).update(status="failing")
    from workspaces.config_cache import config_forget_all

    config_forget_all()
    with pytest.raises(PoolUnavailable, match="all 3 credentials of the pool are failing"):
        invoke(workspace=workspace, ref=GPT, call=list_models)


def test_an_entry_with_no_requests_left_leaves_rotation_before_a_429(
    workspace, pool, fake_providers
):
    set_key(pool["key-c"], "sk-lastrequest-c")
    assert served(workspace, 4) == ["key-a", "key-b", "key-b", "key-c"]
    assert served(workspace, 6) == ["key-a", "key-b", "key-b"] * 2  # key-c waits for its reset
    paths = [r.headers.get("authorization", "") for r in fake_providers.requests]
    assert sum("lastrequest" in p for p in paths) == 1


def test_a_bad_request_is_not_the_entrys_fault(workspace, pool):
    def bad(credential):
        from upstream.errors import BadRequest

        raise BadRequest("max_tokens is too large")

    with pytest.raises(Exception, match="max_tokens is too large"):
        invoke(workspace=workspace, ref=GPT, call=bad)
    assert served(workspace, 3) == ["key-b", "key-b", "key-c"]  # rotation went on, no cooldown


def test_without_load_balancing_the_default_credential_serves(workspace, pool, members):
    pool_set_enabled(workspace=workspace, ref=GPT, enabled=False, acting_user=members["owner"].user)
    assert served(workspace, 3) == ["key-a"] * 3


def test_on_the_free_plan_the_pool_is_kept_but_not_used(workspace, pool):
    workspace.plan = None
    workspace.save()
    from workspaces.config_cache import config_forget_all

    config_forget_all()
    assert served(workspace, 3) == ["key-a"] * 3


def test_the_default_credential_failing_is_marked_too(workspace, pool, members):
    pool_set_enabled(workspace=workspace, ref=GPT, enabled=False, acting_user=members["owner"].user)
    set_key(pool["key-a"], "sk-invalid-a")
    with pytest.raises(AuthenticationFailed):
        invoke(workspace=workspace, ref=GPT, call=list_models)
    assert Credential.objects.get(pk=pool["key-a"].pk).status == "failing"


def test_no_default_credential_says_so(workspace, fake_providers, routing):
    with pytest.raises(NoCredential, match="the provider has no default credential"):
        invoke(workspace=workspace, ref=GPT, call=list_models)


def test_the_pool_page_shows_the_live_state(workspace, pool, client_for):
    set_key(pool["key-b"], "sk-ratelimited-b")
    served(workspace, 2)
    html = (
        client_for("member")
        .get(reverse("pool-detail", args=["openai"]) + "?" + GPT.query)
        .content.decode()
    )
    assert "Cooling down until" in html and "Rate limited" in html
    assert "In rotation" in html


def test_stats_count_per_minute_and_forget_old_minutes(workspace, pool):
    served(workspace, 4)
    from balancing.models import Pool

    stats = get_stats()
    pool_key = Pool.objects.get().key
    ids = [str(pool[name].pk) for name in ("key-a", "key-b", "key-c")]
    counts = stats_window(stats, pool_key, ids, minutes=5)
    assert [counts[i].requests for i in ids] == [1, 2, 1]
    stats.clock = lambda: time.time() + 6 * 60  # six minutes later
    assert all(c.requests == 0 for c in stats_window(stats, pool_key, ids, minutes=5).values())
    last_hour = stats_window(stats, pool_key, ids, minutes=60)
    assert [c.requests for c in last_hour.values()] == [1, 2, 1]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-remaining-requests": "12", "x-ratelimit-reset-requests": "1s"}, (12, 1.0)),
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "6m0s",
                "x-ratelimit-remaining-tokens": "100",
                "x-ratelimit-reset-tokens": "20ms",
            },
            (0, 360.0),
        ),
        (
            {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m30.5s"},
            (0, 90.5),
        ),
        ({"X-RateLimit-Remaining-Requests": "0", "Retry-After": "7"}, (0, 7.0)),
        ({"anthropic-ratelimit-requests-remaining": "3"}, (3, None)),
        ({"content-type": "application/json"}, (None, None)),
        ({"x-ratelimit-remaining-requests": "lots"}, (None, None)),
    ],
)
def test_rate_limit_headers_are_read(headers, expected):
    assert rate_limit_status(headers) == expected
