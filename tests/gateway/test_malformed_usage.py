"""An upstream that answers 200 with a usage block it cannot count ("prompt_tokens": "x"):
the client still gets the answer, whole or streamed to its `[DONE]`, with the usage unknown."""

from __future__ import annotations

import json

import pytest

from invocation.models import UsageRecord
from tests.factories import CredentialFactory

HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def spoiled_openai(workspace, fake_providers):
    return CredentialFactory(
        workspace=workspace,
        name="spoiled",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-1"}),
        config={"base_url": fake_providers.base_url("openai", "badusage")},
    )


def post(client, path, body, headers):
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def test_a_chat_with_unreadable_usage_is_answered(client, bearer, spoiled_openai):
    response = post(
        client, "/v1/chat/completions", {"model": "openai/gpt-4o", "messages": HELLO}, bearer
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["choices"][0]["message"]["content"] == "You said: Hello there"
    assert answer["usage"] is None
    record = UsageRecord.objects.get()
    assert record.outcome == "success"


def test_a_stream_with_unreadable_usage_ends_with_done(client, bearer, spoiled_openai):
    body = {
        "model": "openai/gpt-4o",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = post(client, "/v1/chat/completions", body, bearer)
    assert response.status_code == 200
    events = [
        line.removeprefix("data: ")
        for line in b"".join(response.streaming_content).decode().split("\n\n")
        if line
    ]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert not any("error" in chunk for chunk in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "You said: Hello there"
    assert UsageRecord.objects.get().outcome == "success"


def test_embeddings_with_unreadable_usage_are_answered(client, bearer, spoiled_openai):
    body = {"model": "openai/text-embedding-3-small", "input": ["a", "b"]}
    response = post(client, "/v1/embeddings", body, bearer)
    assert response.status_code == 200
    assert len(response.json()["data"]) == 2
    assert response.json()["usage"] is None
