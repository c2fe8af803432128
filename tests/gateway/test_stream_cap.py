"""Each web process caps the streams it holds open (GATEWAY_MAX_STREAMS,
invocation/capacity.py): past the cap a streamed /v1/ request is answered at once with 503 and
Retry-After in OpenAI's error shape, and the count goes back down however a stream ends: read
to its end, failed mid-stream, or closed because the client went away. /healthz shows it.

Through the test client here; tests/gateway/test_server.py does the same against the
production server process (gunicorn's gevent worker)."""

from __future__ import annotations

import json
import os

import pytest
from django.core import signals
from django.db import close_old_connections

from invocation import api
from invocation.capacity import TooManyStreams, open_streams
from invocation.models import UsageRecord
from tests.factories import CredentialFactory, CustomModelFactory
from upstream.calls import Message
from workspaces.config_cache import config_forget_all

HELLO = [{"role": "user", "content": "Hello"}]


def chat(client, bearer, *, stream: bool = True, model: str = "openai/gpt-4o-mini"):
    body = {"model": model, "messages": HELLO, "stream": stream}
    return client.post(
        "/v1/chat/completions", json.dumps(body), content_type="application/json", headers=bearer
    )


def client_gone(response) -> None:
    """The client went away: the server closes the response, as gunicorn does. (Without the
    test client's care, request_finished's close_old_connections would close the test's
    connection inside its transaction.)"""
    signals.request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def cap(settings):
    settings.GATEWAY_MAX_STREAMS = 2
    assert open_streams() == 0
    yield 2
    assert open_streams() == 0, "a stream kept its place after the test"


def test_past_the_cap_a_stream_is_refused_with_503_and_retry_after(client, bearer, openai_key, cap):
    first, second = chat(client, bearer), chat(client, bearer)
    assert first.status_code == second.status_code == 200
    assert open_streams() == 2

    refused = chat(client, bearer)
    assert refused.status_code == 503
    assert refused["Retry-After"] == "1"
    assert refused["Content-Type"] == "application/json"
    error = refused.json()["error"]
    assert error["type"] == "api_error" and error["code"] == "too_many_streams"
    assert error["param"] is None and "2 streams open" in error["message"]
    assert open_streams() == 2  # the refusal took no place

    whole = chat(client, bearer, stream=False)  # not a stream: served as usual
    assert whole.status_code == 200

    assert b"data: [DONE]" in b"".join(first.streaming_content)  # read to its end
    assert open_streams() == 1
    client_gone(second)  # before reading anything
    assert open_streams() == 0
    outcomes = sorted(UsageRecord.objects.filter(stream=True).values_list("outcome", flat=True))
    assert outcomes == ["client_disconnected", "success"]

    again = chat(client, bearer)
    assert again.status_code == 200
    client_gone(again)


def test_a_stream_that_fails_mid_way_gives_its_place_back(
    client, bearer, workspace, fake_providers, cap
):
    CustomModelFactory(workspace=workspace, name="midstream-1")
    CredentialFactory(
        workspace=workspace,
        model_name="midstream-1",
        model_type="llm",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-2"}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    response = chat(client, bearer, model="openai/midstream-1")
    assert response.status_code == 200
    assert open_streams() == 1
    assert b'"error"' in b"".join(response.streaming_content)
    assert open_streams() == 0


def test_a_stream_refused_before_it_opens_takes_no_place(client, bearer, openai_key, cap):
    assert chat(client, bearer, model="openai/no-such-model").status_code == 404
    openai_key.secret_data = json.dumps({"api_key": "sk-test-error500-1"})
    openai_key.save()
    config_forget_all()
    assert chat(client, bearer).status_code == 502  # the provider failed before the stream
    assert open_streams() == 0


def test_the_python_api_counts_its_streams_too(workspace, openai_key, cap, settings):
    """Whoever opens a stream holds a place until it ends, and one dropped without being
    closed gives it back when it is collected."""
    messages = [Message("user", "Hello")]
    streamed = api.chat_stream(workspace, "openai/gpt-4o-mini", messages)
    dropped = api.chat_stream(workspace, "openai/gpt-4o-mini", messages)
    with pytest.raises(TooManyStreams):
        api.chat_stream(workspace, "openai/gpt-4o-mini", messages)
    assert "".join(chunk.delta for chunk in streamed.chunks())
    assert open_streams() == 1
    del dropped
    assert open_streams() == 0


def test_health_reports_this_process_streams(client, db, bearer, openai_key, cap):
    stream = chat(client, bearer)
    body = client.get("/healthz").json()
    assert body["streams"] == {"pid": os.getpid(), "open": 1, "max": 2}
    client_gone(stream)
    assert client.get("/healthz").json()["streams"]["open"] == 0
