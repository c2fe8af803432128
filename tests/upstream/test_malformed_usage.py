"""An answer whose usage block cannot be read ("prompt_tokens": "x") is still the answer: every
adapter returns its text with the usage unknown (None), whole and streamed, and says so once
per provider in the log. The fakes' "badusage" scenario spoils the token counts in each
provider's own wire format (tests/fakes/providers/)."""

from __future__ import annotations

import logging

import pytest

from tests.helpers import forget_usage_warnings
from upstream.calling import get_adapter
from upstream.calls import ChatRequest, Message, Usage
from upstream.registry import get_provider

VALID_KEY = "sk-test-valid-1"
CHAT_MODEL = {
    "openai": "gpt-4o",
    "openai_compatible": "gpt-4o",
    "azure_openai": "my-gpt-4o",
    "anthropic": "claude-sonnet-4-5-20250929",
    "gemini": "gemini-2.5-flash",
    "cohere": "command-a-03-2025",
    "ollama": "llama3.2",
}
EMBEDDING_MODEL = {
    "openai": "text-embedding-3-small",
    "azure_openai": "my-embedding",
    "cohere": "embed-v4.0",
    "ollama": "nomic-embed-text",
}
REQUEST = (Message("system", "Be brief."), Message("user", "Tell me a joke"))
ANSWER = "You said: Tell me a joke"


def credentials(server, provider_key: str, scenario: str | None = "badusage") -> dict:
    values = {"base_url": server.base_url(provider_key, scenario), "api_key": VALID_KEY}
    if provider_key == "azure_openai":
        values |= {"api_version": "2024-10-21", "deployment": "my-gpt-4o"}
    return values


def adapter(provider_key: str):
    return get_adapter(get_provider(provider_key))


@pytest.mark.parametrize("provider_key", list(CHAT_MODEL))
def test_a_chat_with_unreadable_usage_is_answered_with_usage_unknown(fake_providers, provider_key):
    request = ChatRequest(CHAT_MODEL[provider_key], REQUEST)
    good = adapter(provider_key).chat(credentials(fake_providers, provider_key, None), request)
    result = adapter(provider_key).chat(credentials(fake_providers, provider_key), request)
    assert good.usage is not None and good.usage.total_tokens > 0  # the fake counts tokens
    assert result.content == good.content and ANSWER in result.content
    assert result.finish_reason == good.finish_reason
    assert result.usage is None


@pytest.mark.parametrize("provider_key", list(CHAT_MODEL))
def test_a_stream_with_unreadable_usage_ends_normally_with_usage_unknown(
    fake_providers, provider_key
):
    request = ChatRequest(CHAT_MODEL[provider_key], REQUEST)
    good = adapter(provider_key).chat_stream(
        credentials(fake_providers, provider_key, None), request
    )
    good_text = "".join(chunk.delta for chunk in good)
    assert good.usage is not None and good.usage.total_tokens > 0
    stream = adapter(provider_key).chat_stream(credentials(fake_providers, provider_key), request)
    chunks = list(stream)
    assert "".join(chunk.delta for chunk in chunks) == good_text
    assert any(chunk.finish_reason for chunk in chunks)
    assert stream.usage is None


@pytest.mark.parametrize("provider_key", list(EMBEDDING_MODEL))
def test_embeddings_with_unreadable_usage_come_back_with_usage_unknown(
    fake_providers, provider_key
):
    creds = credentials(fake_providers, provider_key)
    if provider_key == "azure_openai":
        creds["deployment"] = "my-embedding"
    result = adapter(provider_key).embed(creds, EMBEDDING_MODEL[provider_key], ["a b", "c"])
    assert len(result.vectors) == 2
    assert result.usage is None


def test_unreadable_usage_is_logged_once_per_provider(fake_providers, caplog):
    forget_usage_warnings()  # as a fresh process
    caplog.set_level(logging.WARNING)
    for provider_key in ("anthropic", "anthropic", "cohere", "cohere", "anthropic"):
        request = ChatRequest(CHAT_MODEL[provider_key], REQUEST)
        adapter(provider_key).chat(credentials(fake_providers, provider_key), request)
    logged = [r for r in caplog.records if "usage" in r.getMessage().lower()]
    providers = [r.getMessage().split(" ", 1)[0] for r in logged]
    assert sorted(providers) == ["anthropic:", "cohere:"]
    assert all("unknown" in r.getMessage() for r in logged)


@pytest.mark.parametrize("count", ["x", "12", -1, 1.5, 1e300, float("inf"), True, [3], {"n": 3}])
def test_a_count_that_is_not_a_whole_number_of_tokens_makes_the_usage_unknown(count):
    from upstream.adapters.base import reported_usage

    assert reported_usage("openai", 3, count) is None
    assert reported_usage("openai", 3, 4.0, None) == Usage(3, 4)
