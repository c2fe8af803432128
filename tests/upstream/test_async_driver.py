"""The async side of the adapter/transport split: the adapters' operations, unchanged, run by
`upstream.calling.arun` on a transport with the `AsyncTransport` interface (here one that
replays recorded answers; a real async HTTP client transport comes with the gateway-at-scale
work). No sockets."""

from __future__ import annotations

import asyncio

import pytest

from tests.upstream import recordings as rec
from tests.upstream.replay import (
    AsyncRecordedTransport,
    RecordedTransport,
    Stream,
    forbid_sockets,
)
from upstream.adapters import adapter_for
from upstream.calling import arun, get_adapter
from upstream.calls import AsyncChatStream, ChatChunk, ChatRequest, Message, Usage
from upstream.errors import RateLimited, UpstreamError
from upstream.registry import get_provider

KEY = "sk-test-0123456789abcdef"
CHAT = ChatRequest("gpt-4o-mini", (Message("user", "Hi"),))


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch):
    forbid_sockets(monkeypatch)


def adapter(provider_key: str):
    return adapter_for(get_provider(provider_key))


def test_a_chat_runs_on_an_async_transport():
    transport = AsyncRecordedTransport(rec.OPENAI_CHAT)

    result = asyncio.run(arun(adapter("openai").chat({"api_key": KEY}, CHAT), transport))

    assert (result.content, result.usage) == ("Héllo! 👋", Usage(19, 4))
    [request] = transport.requests
    assert request.url == "https://api.openai.com/v1/chat/completions"


def test_the_sync_and_async_drivers_send_the_same_requests_and_return_the_same_result():
    sync_transport = RecordedTransport(rec.OPENAI_CHAT)
    async_transport = AsyncRecordedTransport(rec.OPENAI_CHAT)
    sync_result = get_adapter(get_provider("openai"), sync_transport).chat({"api_key": KEY}, CHAT)
    async_result = asyncio.run(
        arun(adapter("openai").chat({"api_key": KEY}, CHAT), async_transport)
    )
    assert sync_result == async_result
    assert sync_transport.requests == async_transport.requests


def test_a_paged_model_list_runs_on_an_async_transport():
    transport = AsyncRecordedTransport(*rec.ANTHROPIC_MODELS_PAGES)

    models = asyncio.run(arun(adapter("anthropic").list_models({"api_key": KEY}), transport))

    assert [model.name for model in models] == [
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
    ]
    assert len(transport.requests) == 2


def test_an_error_status_raises_the_classified_error():
    transport = AsyncRecordedTransport(rec.OPENAI_RATE_LIMITED)
    with pytest.raises(RateLimited) as caught:
        asyncio.run(arun(adapter("openai").chat({"api_key": KEY}, CHAT), transport))
    assert caught.value.retry_after == 19.83


def test_a_stream_runs_on_an_async_transport():
    data = rec.OPENAI_STREAM
    transport = AsyncRecordedTransport(Stream([data[:97], data[97:501], data[501:]]))

    async def chat() -> tuple[list[ChatChunk], AsyncChatStream]:
        stream = await arun(adapter("openai").chat_stream({"api_key": KEY}, CHAT), transport)
        return [chunk async for chunk in stream], stream

    chunks, stream = asyncio.run(chat())

    assert chunks == [
        ChatChunk(delta="Grüß"),
        ChatChunk(delta=" dich, 世界 🌍"),
        ChatChunk(finish_reason="stop"),
        ChatChunk(usage=Usage(9, 3)),
    ]
    assert stream.usage == Usage(9, 3)
    assert transport.streams[0].closed


def test_an_async_stream_raises_a_mid_stream_error():
    transport = AsyncRecordedTransport(Stream([rec.ANTHROPIC_STREAM_OVERLOADED]))

    async def chat() -> list[str]:
        stream = await arun(adapter("anthropic").chat_stream({"api_key": KEY}, CHAT), transport)
        received = []
        async for chunk in stream:
            received.append(chunk.delta)
        return received

    with pytest.raises(UpstreamError, match="HTTP 529: Overloaded"):
        asyncio.run(chat())
    assert transport.streams[0].closed


def test_closing_an_async_stream_stops_it():
    transport = AsyncRecordedTransport(Stream([rec.OPENAI_STREAM[:400], rec.OPENAI_STREAM[400:]]))

    async def chat() -> list[ChatChunk]:
        stream = await arun(adapter("openai").chat_stream({"api_key": KEY}, CHAT), transport)
        chunks = aiter(stream)
        first = await anext(chunks)
        await stream.aclose()
        return [first] + [chunk async for chunk in chunks]

    assert asyncio.run(chat()) == [ChatChunk(delta="Grüß")]
    assert transport.streams[0].closed


def test_a_web_page_answering_an_async_stream_is_refused_and_closed():
    page = Stream([b"<html></html>"], {"content-type": "text/html; charset=utf-8"})
    transport = AsyncRecordedTransport(page)
    with pytest.raises(UpstreamError, match="a web page"):
        asyncio.run(arun(adapter("openai").chat_stream({"api_key": KEY}, CHAT), transport))
    assert transport.streams[0].closed
