"""The official openai Python SDK, unchanged, against the gateway in the production server
process (gunicorn as the Procfile starts it, with Redis, one server for the module): chat
(whole and streamed), embeddings and moderations served by the fake providers behind it, errors
as the SDK's own exceptions, failover inside a pool, a client leaving mid-stream, and one usage
record per call (written by the server's usage writer off the request path, so waited for)."""

from __future__ import annotations

import json

import openai
import pytest

from balancing.services import ModelRef, pool_entry_add, pool_set_enabled
from invocation.models import UsageRecord
from tests.factories import CredentialFactory, CustomModelFactory
from tests.fakes import slow_stream
from tests.production_server import eventually
from workspaces.config_cache import ConfigKind, config_changed

pytestmark = pytest.mark.django_db(transaction=True)  # the server sees committed rows only


@pytest.fixture
def sdk(server, redis_url, api_key, openai_key):
    client = openai.OpenAI(
        api_key=api_key.secret, base_url=f"{server.url}/v1", max_retries=0, timeout=10
    )
    yield client
    client.close()


def usage_records(count: int) -> list[UsageRecord]:
    """The first `count` usage records, once the server has written them."""
    eventually(
        lambda: UsageRecord.objects.count() >= count, timeout=5, what=f"{count} usage records"
    )
    return list(UsageRecord.objects.order_by("pk"))


def test_chat_completion(sdk):
    completion = sdk.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": "How are you?"},
        ],
        temperature=0.2,
        max_tokens=50,
    )
    assert completion.choices[0].message.content == "You said: How are you?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "openai/gpt-4o-mini"
    assert completion.usage.completion_tokens == 5
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    [record] = usage_records(1)
    assert (record.provider, record.model, record.endpoint) == ("openai", "gpt-4o-mini", "chat")
    assert record.credential_name == "prod-key" and record.outcome == "success"
    assert record.completion_tokens == 5 and record.api_key.name == "app"


def test_a_bare_model_name_works_when_unambiguous(sdk):
    completion = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}]
    )
    assert completion.choices[0].message.content == "You said: ping"


def test_streamed_chat_completion(sdk):
    stream = sdk.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "Tell me a long story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: Tell me a long story"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == 7
    [record] = usage_records(1)
    assert record.stream and record.completion_tokens == 7 and record.outcome == "success"


def test_embeddings_in_both_encodings(sdk):
    result = sdk.embeddings.create(
        model="openai/text-embedding-3-small", input=["first", "second", "third"]
    )
    assert [item.index for item in result.data] == [0, 1, 2]
    vectors = [item.embedding for item in result.data]
    assert len({len(v) for v in vectors}) == 1 and vectors[0] != vectors[1]
    as_floats = sdk.embeddings.create(
        model="openai/text-embedding-3-small", input="first", encoding_format="float"
    )
    assert as_floats.data[0].embedding == pytest.approx(vectors[0], rel=1e-6)
    assert result.usage.prompt_tokens > 0


def test_moderations(sdk):
    result = sdk.moderations.create(
        model="openai/omni-moderation-latest", input=["a kind word", "I will kill them"]
    )
    assert [r.flagged for r in result.results] == [False, True]


def test_errors_arrive_as_the_sdks_exceptions(sdk, server):
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(
            model="openai/gpt-9", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}], temperature=9
        )
    assert caught.value.param == "temperature"
    with (
        openai.OpenAI(api_key="mck_wrong", base_url=f"{server.url}/v1", max_retries=0) as wrong,
        pytest.raises(openai.AuthenticationError),
    ):
        wrong.models.list()


def test_models_lists_what_the_workspace_can_use(sdk):
    ids = [model.id for model in sdk.models.list()]
    assert "openai/gpt-4o-mini" in ids and "openai/text-embedding-3-small" in ids
    assert not any(i.startswith("anthropic/") for i in ids)  # no credential there


def test_a_pool_fails_over_and_a_fully_rate_limited_pool_answers_429(
    sdk, workspace, members, openai_key, fake_providers, pro_plan, settings, redis_url
):
    workspace.plan = pro_plan
    workspace.save()
    limited = CredentialFactory(
        workspace=workspace,
        name="limited",
        secret_data=json.dumps({"api_key": "sk-ratelimited-1"}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    owner = members["owner"].user
    ref = ModelRef("openai", "gpt-4o-mini", "llm")
    pool_entry_add(workspace=workspace, ref=ref, credential=limited, acting_user=owner)
    pool_set_enabled(workspace=workspace, ref=ref, enabled=True, acting_user=owner)
    messages = [{"role": "user", "content": "hi"}]
    for _ in range(3):  # Default Config (prod-key), then limited → fails over to prod-key
        completion = sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=messages)
        assert completion.choices[0].message.content == "You said: hi"
    served_by = [record.credential_name for record in usage_records(3)]
    assert served_by == ["prod-key", "prod-key", "prod-key"]

    from credentials.models import Credential

    Credential.objects.filter(pk=openai_key.pk).update(
        secret_data=json.dumps({"api_key": "sk-ratelimited-2"})
    )
    # Rows edited by hand: tell every process, as a service would, through Redis.
    settings.REDIS_URL = redis_url
    config_changed(workspace.pk, ConfigKind.CREDENTIALS)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=messages)
    response = caught.value.response
    assert int(response.headers["retry-after"]) >= 1
    assert "“prod-key”" in caught.value.message and "cooling down" in caught.value.message


def test_an_error_mid_stream_ends_the_stream_with_an_error_event(sdk, workspace, fake_providers):
    CustomModelFactory(workspace=workspace, name="midstream-1")
    CredentialFactory(
        workspace=workspace,
        model_name="midstream-1",
        model_type="llm",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-2"}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    stream = sdk.chat.completions.create(
        model="openai/midstream-1", messages=[{"role": "user", "content": "go on"}], stream=True
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received)  # the first deltas arrived before the failure
    [record] = usage_records(1)
    assert record.outcome == "upstream_error"


def test_a_client_leaving_mid_stream_stops_the_upstream_read(sdk, server, workspace, slow_upstream):
    """The client closes the stream after its first token, as an application that stops
    reading does; the server notices on its next write and closes the upstream's stream."""
    CustomModelFactory(workspace=workspace, name="slow-1")
    CredentialFactory(
        workspace=workspace,
        model_name="slow-1",
        model_type="llm",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-slow"}),
        config={"base_url": f"http://127.0.0.1:{slow_upstream}/v1"},
    )
    stream = sdk.chat.completions.create(
        model="openai/slow-1", messages=[{"role": "user", "content": "a long answer"}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            assert chunk.choices[0].delta.content == slow_stream.token(0)
            break
    stream.close()
    [record] = usage_records(1)
    assert record.outcome == "client_disconnected" and record.stream
    assert record.latency_ms < slow_stream.CHUNKS * slow_stream.EVERY * 1000  # not read to its end
    assert server.health()["streams"]["open"] == 0
