"""The stream decoders (upstream/streams.py) and every provider's stream as its adapter parses
it, fed the same bytes whole, cut at every byte boundary and byte by byte: the events and the
chunks must not depend on how the bytes arrived. No sockets: the bytes are recorded."""

from __future__ import annotations

import pytest

from tests.upstream import recordings as rec
from tests.upstream.replay import RecordedTransport, Stream, forbid_sockets, pieces_of
from upstream.adapters import adapter_for
from upstream.calling import run
from upstream.calls import ChatChunk, ChatRequest, Message, Usage
from upstream.errors import ProviderError, UpstreamError
from upstream.registry import get_provider
from upstream.streams import (
    BytesDecoder,
    NDJSONDecoder,
    ServerSentEvent,
    SSEDecoder,
    decoder_for,
)


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch):
    forbid_sockets(monkeypatch)


def splits(data: bytes) -> list[list[bytes]]:
    """Every way the tests cut `data`: whole, in two at every byte, and byte by byte."""
    return [
        [data],
        *(pieces_of(data, cut) for cut in range(1, len(data))),
        [data[i : i + 1] for i in range(len(data))],
    ]


def decode(decoder, pieces: list[bytes]) -> list:
    events = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events + decoder.end()


# -- server-sent events -------------------------------------------------------------------------

SSE_STREAM = (
    b": this is a comment\n"
    b"retry: 3000\n"
    b"\n"
    b"event: greeting\n"
    b"id: 1\n"
    b"data: Gr\xc3\xbc\xc3\x9f dich\n"
    b"\n"
    b"data: first line\n"
    b"data:second line, no space\n"
    b"data:  two spaces keep one\n"
    b"\n"
    b"event: lonely\n"
    b"\n"
    b'data: {"emoji": "\xf0\x9f\x8c\x8d", "cjk": "\xe4\xb8\x96\xe7\x95\x8c"}\r\n'
    b"\r\n"
    b"event: last\n"
    b"data: no blank line after me"
)
SSE_EVENTS = [
    ServerSentEvent("greeting", "Grüß dich"),
    ServerSentEvent("message", "first line\nsecond line, no space\n two spaces keep one"),
    ServerSentEvent("message", '{"emoji": "🌍", "cjk": "世界"}'),
    ServerSentEvent("last", "no blank line after me"),
]


def test_sse_events_whole():
    assert decode(SSEDecoder(), [SSE_STREAM]) == SSE_EVENTS


def test_sse_the_last_event_comes_at_the_end():
    decoder = SSEDecoder()
    assert decoder.feed(SSE_STREAM) == SSE_EVENTS[:-1]
    assert decoder.end() == SSE_EVENTS[-1:]
    assert decoder.end() == []


def test_sse_events_at_every_byte_boundary():
    for pieces in splits(SSE_STREAM):
        assert decode(SSEDecoder(), pieces) == SSE_EVENTS, pieces


def test_sse_an_invalid_byte_becomes_a_replacement_character():
    assert decode(SSEDecoder(), [b"data: caf\xe9\n\n"]) == [ServerSentEvent("message", "caf\ufffd")]


# -- newline-delimited JSON ---------------------------------------------------------------------

NDJSON_STREAM = (
    b'{"n": 1, "text": "Hej d\xc3\xa5 \xf0\x9f\x99\x82"}\n'
    b"\n"
    b"   \n"
    b'{"n": 2, "text": "\xe6\x97\xa5\xe6\x9c\xac"}\r\n'
    b'{"n": 3, "done": true}'
)
NDJSON_LINES = [
    '{"n": 1, "text": "Hej då 🙂"}',
    '{"n": 2, "text": "日本"}',
    '{"n": 3, "done": true}',
]


def test_ndjson_lines_at_every_byte_boundary():
    for pieces in splits(NDJSON_STREAM):
        assert decode(NDJSONDecoder(), pieces) == NDJSON_LINES, pieces


# -- raw bytes ----------------------------------------------------------------------------------


def test_bytes_pass_through_at_every_byte_boundary():
    audio = rec.ELEVENLABS_AUDIO.content
    for pieces in splits(audio):
        out = decode(BytesDecoder(), pieces)
        assert b"".join(out) == audio
        assert all(out)  # no empty pieces


def test_each_format_has_its_decoder():
    assert isinstance(decoder_for("sse"), SSEDecoder)
    assert isinstance(decoder_for("ndjson"), NDJSONDecoder)
    assert isinstance(decoder_for("bytes"), BytesDecoder)


# -- each provider's stream, as its adapter parses it -------------------------------------------

CHAT = ChatRequest(
    "test-model", (Message("system", "Be brief."), Message("user", "Hi")), max_tokens=64
)
CREDENTIALS = {"api_key": "sk-test-0123456789abcdef", "base_url": "https://api.example.test"}


def streamed(provider_key: str, pieces: list[bytes]) -> tuple[list[ChatChunk], Exception | None]:
    """The chunks the provider's adapter makes of the stream, and the error it ended with."""
    creds = {**CREDENTIALS, "api_version": "2024-10-21", "deployment": "gpt-4o"}
    headers = rec.SSE if provider_key != "ollama" else {"content-type": "application/x-ndjson"}
    transport = RecordedTransport(Stream(pieces, headers))
    stream = run(adapter_for(get_provider(provider_key)).chat_stream(creds, CHAT), transport)
    chunks: list[ChatChunk] = []
    try:
        for chunk in stream:
            chunks.append(chunk)
    except ProviderError as error:
        return chunks, error
    assert transport.streams[0].closed  # the driver closed it at the end
    return chunks, None


PROVIDER_STREAMS = {
    "openai": (
        rec.OPENAI_STREAM,
        [
            ChatChunk(delta="Grüß"),
            ChatChunk(delta=" dich, 世界 🌍"),
            ChatChunk(finish_reason="stop"),
            ChatChunk(usage=Usage(9, 3)),
        ],
    ),
    "azure_openai": (
        rec.AZURE_STREAM,
        [
            ChatChunk(delta="Ça va ? 😊"),
            ChatChunk(finish_reason="length"),
            ChatChunk(usage=Usage(11, 4)),
        ],
    ),
    "anthropic": (
        rec.ANTHROPIC_STREAM,
        [
            ChatChunk(delta="Bon"),
            ChatChunk(delta="jour ☕ – à bientôt"),
            ChatChunk(finish_reason="stop", usage=Usage(12, 6)),
        ],
    ),
    "gemini": (
        rec.GEMINI_STREAM,
        [
            ChatChunk(delta="Hallo"),
            ChatChunk(delta=", Welt 🌍 – schön"),
            ChatChunk(delta="!"),
            ChatChunk(finish_reason="stop", usage=Usage(8, 5)),
        ],
    ),
    "cohere": (
        rec.COHERE_STREAM,
        [
            ChatChunk(delta="¡Ho"),
            ChatChunk(delta="la! ✨ ¿Qué tal?"),
            ChatChunk(finish_reason="stop", usage=Usage(5, 7)),
        ],
    ),
    "ollama": (
        rec.OLLAMA_STREAM,
        [
            ChatChunk(delta="Hej"),
            ChatChunk(delta=" då 🙂, 日本"),
            ChatChunk(delta="", finish_reason="stop", usage=Usage(26, 4)),
        ],
    ),
}


@pytest.mark.parametrize("provider_key", PROVIDER_STREAMS)
def test_a_provider_stream_whole(provider_key):
    data, expected = PROVIDER_STREAMS[provider_key]
    assert streamed(provider_key, [data]) == (expected, None)


@pytest.mark.parametrize("provider_key", PROVIDER_STREAMS)
def test_a_provider_stream_at_every_byte_boundary(provider_key):
    data, expected = PROVIDER_STREAMS[provider_key]
    for pieces in splits(data):
        assert streamed(provider_key, pieces) == (expected, None), pieces


FAILING_STREAMS = {
    "openai": (rec.OPENAI_STREAM_MIDSTREAM_ERROR, ["Grüß"], UpstreamError, "had an error"),
    "anthropic": (rec.ANTHROPIC_STREAM_OVERLOADED, ["Bon"], UpstreamError, "HTTP 529: Overloaded"),
    "gemini": (rec.GEMINI_STREAM_CUT, ["Hallo"], UpstreamError, "ended before the answer"),
    "ollama": (rec.OLLAMA_STREAM_ERROR, ["Hej"], UpstreamError, "while running the model"),
}


@pytest.mark.parametrize("provider_key", FAILING_STREAMS)
def test_a_failing_provider_stream_at_every_byte_boundary(provider_key):
    data, deltas, error_class, message = FAILING_STREAMS[provider_key]
    for pieces in splits(data):
        chunks, error = streamed(provider_key, pieces)
        assert [chunk.delta for chunk in chunks] == deltas, pieces
        assert isinstance(error, error_class), pieces
        assert message in str(error)
