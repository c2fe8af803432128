"""The media operations of the adapters: Cohere's rerank driven by hand with bytes (no I/O at
all), then rerank, streamed speech and transcriptions against the fake providers over
loopback, each fake speaking its provider's wire format."""

from __future__ import annotations

import json

import pytest

from tests.fakes.providers.base import RETRY_AFTER
from upstream.calling import ProviderClient, get_adapter
from upstream.calls import AudioChunk, RankedDocument
from upstream.errors import RateLimited, UpstreamError
from upstream.http import Response
from upstream.registry import get_provider

VALID_KEY = "sk-test-valid-1"
CREDENTIALS = {"api_key": VALID_KEY, "base_url": "https://api.cohere.test"}


def adapter(provider_key: str) -> ProviderClient:
    return get_adapter(get_provider(provider_key))


def credentials(server, provider_key: str, key: str = VALID_KEY) -> dict:
    return {"api_key": key, "base_url": server.base_url(provider_key)}


def drive(operation, answer: Response):
    """Run an operation that sends one request: (the request, the result)."""
    request = operation.send(None)
    try:
        operation.send(answer)
    except StopIteration as finished:
        return request, finished.value
    raise AssertionError("the operation asked for a second request")


def cohere_answer(body, status: int = 200) -> Response:
    return Response(status, {"content-type": "application/json"}, json.dumps(body).encode())


# -- Cohere rerank, pure --------------------------------------------------------------------------


def test_cohere_rerank_sends_query_documents_and_top_n_and_reads_results():
    operation = adapter("cohere").adapter.rerank(
        CREDENTIALS, "rerank-v3.5", "capital of France", ["Berlin", "Paris"], top_n=1
    )
    request, result = drive(
        operation,
        cohere_answer(
            {
                "id": "r1",
                "results": [{"index": 1, "relevance_score": 0.91}],
                "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
            }
        ),
    )
    assert (request.method, request.url) == ("POST", "https://api.cohere.test/v2/rerank")
    assert request.json == {
        "model": "rerank-v3.5",
        "query": "capital of France",
        "documents": ["Berlin", "Paris"],
        "top_n": 1,
    }
    assert request.headers["Authorization"] == f"Bearer {VALID_KEY}"
    assert result.results == [RankedDocument(1, 0.91)]
    assert result.search_units == 1


def test_cohere_rerank_without_top_n_sends_none_and_unbilled_answers_have_no_units():
    request, result = drive(
        adapter("cohere").adapter.rerank(CREDENTIALS, "rerank-v3.5", "q", ["a"]),
        cohere_answer({"results": [{"index": 0, "relevance_score": 0.5}]}),
    )
    assert "top_n" not in request.json
    assert result.search_units is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"results": "no"},
        {"results": [{"index": 5, "relevance_score": 0.1}]},  # a document never sent
        {"results": [{"index": 0, "relevance_score": "high"}]},
        {"results": [{"index": True, "relevance_score": 0.1}]},
        {"results": [{"index": 0, "relevance_score": 1}, {"index": 0, "relevance_score": 1}]},
    ],
)
def test_cohere_rerank_refuses_an_answer_naming_no_document_sent(body):
    with pytest.raises(UpstreamError):
        drive(
            adapter("cohere").adapter.rerank(CREDENTIALS, "rerank-v3.5", "q", ["a", "b"]),
            cohere_answer(body),
        )


def test_cohere_rerank_classifies_a_429():
    with pytest.raises(RateLimited):
        drive(
            adapter("cohere").adapter.rerank(CREDENTIALS, "rerank-v3.5", "q", ["a"]),
            cohere_answer({"id": "x", "message": "You are using a Trial key"}, status=429),
        )


def test_providers_without_rerank_refuse_it_before_any_request():
    from upstream.errors import NotSupported

    with pytest.raises(NotSupported):
        adapter("openai").adapter.rerank(CREDENTIALS, "gpt-4o", "q", ["a"]).send(None)


# -- over loopback ------------------------------------------------------------------------------


def test_cohere_rerank_against_the_fake(fake_providers):
    result = adapter("cohere").rerank(
        credentials(fake_providers, "cohere"),
        "rerank-v3.5",
        "capital of France",
        ["Berlin is in Germany", "Paris is the capital of France", "France"],
        top_n=2,
    )
    assert [r.index for r in result.results] == [1, 2]
    assert result.results[0].relevance_score == 1.0
    assert result.search_units == 1


def test_cohere_rerank_rate_limited_by_the_fake(fake_providers):
    with pytest.raises(RateLimited) as caught:
        adapter("cohere").rerank(
            credentials(fake_providers, "cohere", "sk-test-ratelimited"), "rerank-v3.5", "q", ["a"]
        )
    assert caught.value.retry_after == RETRY_AFTER


@pytest.mark.parametrize(
    ("provider", "model", "voice", "start", "content_type"),
    [
        ("openai", "tts-1", "nova", b"ID3", "audio/mpeg"),
        ("elevenlabs", "eleven_multilingual_v2", "", b"ID3", "audio/mpeg"),
    ],
)
def test_streamed_speech_arrives_as_audio_chunks(
    fake_providers, provider, model, voice, start, content_type
):
    stream = adapter(provider).speak_stream(
        credentials(fake_providers, provider), model, "Hello there, a longer sentence.", voice=voice
    )
    assert stream.headers["content-type"] == content_type
    chunks = list(stream)
    assert chunks and all(isinstance(c, AudioChunk) for c in chunks)
    audio = b"".join(c.data for c in chunks)
    assert audio.startswith(start)
    if provider == "elevenlabs":
        sent = fake_providers.requests_to("/elevenlabs/")[-1]
        assert sent.path.startswith("/elevenlabs/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream?")


def test_streamed_speech_errors_before_the_audio_are_classified(fake_providers):
    with pytest.raises(RateLimited):
        adapter("openai").speak_stream(
            credentials(fake_providers, "openai", "sk-test-ratelimited"), "tts-1", "Hello"
        )


def test_whisper_transcriptions_report_duration_language_and_segments(fake_providers):
    audio = b"\x00" * 32000
    result = adapter("openai").transcribe(
        credentials(fake_providers, "openai"), "whisper-1", audio, filename="a.mp3"
    )
    assert result.duration == 2.0 and result.language == "english"
    assert result.segments and result.segments[0]["end"] == 2.0


def test_gpt4o_transcriptions_report_tokens_not_duration(fake_providers):
    result = adapter("openai").transcribe(
        credentials(fake_providers, "openai"), "gpt-4o-transcribe", b"\x00" * 16000
    )
    assert result.duration is None
    assert result.usage is not None and result.usage.prompt_tokens == 10
