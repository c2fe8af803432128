"""Each adapter against recorded exchanges, with no socket: the requests it yields are checked
field by field, and the recorded answers (bytes) it is sent back become results, chunks or the
taxonomy's errors. Streams cut at every byte are in test_streams.py; the same adapters against
the fake providers over loopback are in test_adapters.py and test_calls_*.py."""

from __future__ import annotations

import pytest

from tests.upstream import recordings as rec
from tests.upstream.replay import RecordedTransport, Stream, forbid_sockets
from upstream.adapters import adapter_for
from upstream.calling import get_adapter
from upstream.calls import ChatChunk, ChatRequest, ChatResult, Message, Usage
from upstream.errors import (
    AuthenticationFailed,
    ModelNotAvailable,
    QuotaExhausted,
    RateLimited,
    UpstreamError,
)
from upstream.http import Request, Response, StreamHead
from upstream.registry import get_provider
from upstream.streams import OpenedStream, SSEDecoder

KEY = "sk-test-0123456789abcdef"
CHAT = ChatRequest(
    "test-model",
    (Message("system", "Be brief."), Message("user", "Hi")),
    temperature=0.2,
    max_tokens=64,
)


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch):
    forbid_sockets(monkeypatch)


def client(provider_key: str, *answers):
    transport = RecordedTransport(*answers)
    return get_adapter(get_provider(provider_key), transport), transport


def chat(model: str) -> ChatRequest:
    return ChatRequest(model, CHAT.messages, temperature=0.2, max_tokens=64)


# -- the yield protocol, by hand ----------------------------------------------------------------


def test_an_operation_yields_its_request_and_returns_the_parsed_answer():
    operation = adapter_for(get_provider("openai")).chat({"api_key": KEY}, chat("gpt-4o-mini"))

    request = next(operation)

    assert request == Request(
        "POST",
        "https://api.openai.com/v1/chat/completions",
        headers={"Accept": "application/json", "Authorization": f"Bearer {KEY}"},
        json={
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
            "temperature": 0.2,
            "max_tokens": 64,
        },
    )
    with pytest.raises(StopIteration) as done:
        operation.send(rec.OPENAI_CHAT)
    assert done.value.value == ChatResult(
        content="Héllo! 👋",
        finish_reason="stop",
        usage=Usage(19, 4),
        model="gpt-4o-mini-2024-07-18",
        headers=rec.OPENAI_CHAT.headers,
    )


def test_a_stream_operation_returns_a_parser_once_the_stream_is_accepted():
    operation = adapter_for(get_provider("openai")).chat_stream({"api_key": KEY}, CHAT)

    request = next(operation)
    assert request.stream == "sse"
    assert request.headers["Accept"] == "text/event-stream"
    assert request.json["stream"] is True
    assert request.json["stream_options"] == {"include_usage": True}

    with pytest.raises(StopIteration) as done:
        operation.send(StreamHead(200, rec.SSE))
    opened = done.value.value
    assert isinstance(opened, OpenedStream)
    assert opened.format == "sse"
    decoder = SSEDecoder()
    events = decoder.feed(rec.OPENAI_STREAM) + decoder.end()
    chunks = [chunk for event in events for chunk in opened.parser.feed(event)]
    assert "".join(chunk.delta for chunk in chunks) == "Grüß dich, 世界 🌍"
    assert opened.parser.done  # [DONE] was seen


def test_a_refused_stream_is_classified_before_any_chunk():
    openai, transport = client("openai", rec.OPENAI_RATE_LIMITED)
    with pytest.raises(RateLimited) as caught:
        openai.chat_stream({"api_key": KEY}, CHAT)
    assert caught.value.retry_after == 19.83
    assert transport.streams == []


def test_a_web_page_answering_a_stream_is_refused_and_closed():
    page = Stream([b"<html><title>Sign in</title></html>"], {"content-type": "text/html"})
    openai, transport = client("openai", page)
    with pytest.raises(UpstreamError, match="a web page, not a stream"):
        openai.chat_stream({"api_key": KEY}, CHAT)
    [handle] = transport.streams
    assert handle.closed
    assert handle.read == 0


def test_closing_a_stream_stops_reading_it():
    pieces = [rec.OPENAI_STREAM[:400], rec.OPENAI_STREAM[400:800], rec.OPENAI_STREAM[800:]]
    openai, transport = client("openai", Stream(pieces))
    stream = openai.chat_stream({"api_key": KEY}, CHAT)
    chunks = iter(stream)
    assert next(chunks).delta == "Grüß"
    stream.close()
    assert list(chunks) == []
    assert transport.streams[0].read < len(pieces)


# -- OpenAI ---------------------------------------------------------------------------------------


def test_openai_stream():
    openai, transport = client("openai", Stream([rec.OPENAI_STREAM]))
    stream = openai.chat_stream({"api_key": KEY, "organization": "org-42"}, chat("o3-mini"))
    chunks = list(stream)
    [request] = transport.requests
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["OpenAI-Organization"] == "org-42"
    assert request.json["max_completion_tokens"] == 64  # a reasoning model's field
    assert "".join(chunk.delta for chunk in chunks) == "Grüß dich, 世界 🌍"
    assert stream.usage == Usage(9, 3)
    assert stream.headers["content-type"].startswith("text/event-stream")


def test_openai_invalid_key():
    openai, _ = client("openai", rec.OPENAI_INVALID_KEY)
    with pytest.raises(AuthenticationFailed, match="Incorrect API key provided"):
        openai.chat({"api_key": KEY}, CHAT)


def test_openai_models_validate_the_key():
    models = rec.answer(200, {"object": "list", "data": [{"id": "gpt-4o"}, {"id": "whisper-1"}]})
    openai, transport = client("openai", models)
    assert openai.validate({"api_key": KEY}) is None
    [request] = transport.requests
    assert (request.method, request.url) == ("GET", "https://api.openai.com/v1/models")


# -- Azure OpenAI ---------------------------------------------------------------------------------

AZURE = {
    "api_key": KEY,
    "base_url": "https://my-resource.openai.azure.com/openai/deployments/x/chat/completions",
    "api_version": "2024-10-21",
}


def test_azure_chat_goes_to_the_deployment_with_the_api_version():
    azure, transport = client("azure_openai", rec.OPENAI_CHAT)
    result = azure.chat({**AZURE, "deployment": "my gpt"}, chat("gpt-4o"))
    [request] = transport.requests
    assert request.url == (
        "https://my-resource.openai.azure.com/openai/deployments/my%20gpt/chat/completions"
    )
    assert request.params == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == KEY
    assert "Authorization" not in request.headers
    assert result.content == "Héllo! 👋"


def test_azure_stream_skips_the_filter_notes():
    azure, transport = client("azure_openai", Stream([rec.AZURE_STREAM]))
    chunks = list(azure.chat_stream(AZURE, chat("gpt-4o")))
    assert transport.requests[0].json["stream_options"] == {"include_usage": True}
    assert chunks == [
        ChatChunk(delta="Ça va ? 😊"),
        ChatChunk(finish_reason="length"),
        ChatChunk(usage=Usage(11, 4)),
    ]


def test_azure_older_api_versions_ask_for_no_stream_usage():
    azure, transport = client("azure_openai", Stream([rec.AZURE_STREAM]))
    list(azure.chat_stream({**AZURE, "api_version": "2024-06-01"}, chat("gpt-4o")))
    assert "stream_options" not in transport.requests[0].json


def test_azure_deployment_not_found():
    azure, _ = client("azure_openai", rec.AZURE_DEPLOYMENT_NOT_FOUND)
    with pytest.raises(ModelNotAvailable) as caught:
        azure.chat(AZURE, chat("gpt-4o"))
    assert "deployment name in Azure AI Foundry" in caught.value.hint


# -- Anthropic ----------------------------------------------------------------------------------


def test_anthropic_chat():
    anthropic, transport = client("anthropic", rec.ANTHROPIC_CHAT)
    result = anthropic.chat({"api_key": KEY}, chat("claude-sonnet-4-5"))
    [request] = transport.requests
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.json == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hi"}],
        "system": "Be brief.",
        "temperature": 0.2,
    }
    assert result == ChatResult(
        content="Bonjour ☕",
        finish_reason="stop",
        usage=Usage(12, 6),
        model="claude-sonnet-4-5-20250929",
        headers=rec.ANTHROPIC_CHAT.headers,
    )


def test_anthropic_stream():
    anthropic, transport = client("anthropic", Stream([rec.ANTHROPIC_STREAM]))
    stream = anthropic.chat_stream({"api_key": KEY}, chat("claude-sonnet-4-5"))
    assert "".join(chunk.delta for chunk in stream) == "Bonjour ☕ – à bientôt"
    assert stream.usage == Usage(12, 6)
    assert transport.requests[0].json["stream"] is True


def test_anthropic_low_credit_is_quota():
    anthropic, _ = client("anthropic", rec.ANTHROPIC_LOW_CREDIT)
    with pytest.raises(QuotaExhausted, match="credit balance is too low"):
        anthropic.chat({"api_key": KEY}, chat("claude-sonnet-4-5"))


def test_anthropic_overloaded_stream_status_is_classified():
    overloaded = rec.answer(
        529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    anthropic, _ = client("anthropic", overloaded)
    with pytest.raises(UpstreamError, match="HTTP 529: Overloaded") as caught:
        anthropic.chat_stream({"api_key": KEY}, chat("claude-sonnet-4-5"))
    assert "overloaded for everyone" in caught.value.hint


def test_anthropic_model_list_follows_its_pages():
    anthropic, transport = client("anthropic", *rec.ANTHROPIC_MODELS_PAGES)
    models = anthropic.list_models({"api_key": KEY})
    assert [(m.name, m.label) for m in models] == [
        ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5"),
        ("claude-haiku-4-5-20251001", "Claude Haiku 4.5"),
    ]
    assert [r.params for r in transport.requests] == [
        {"limit": 1000},
        {"limit": 1000, "after_id": "claude-sonnet-4-5-20250929"},
    ]


# -- Gemini --------------------------------------------------------------------------------------


def test_gemini_chat_sends_the_key_in_a_header_only():
    gemini, transport = client("gemini", rec.GEMINI_CHAT)
    result = gemini.chat({"api_key": KEY}, chat("gemini-2.0-flash"))
    [request] = transport.requests
    assert request.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
    )
    assert request.headers["x-goog-api-key"] == KEY
    assert not request.params
    assert request.json == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 64},
    }
    assert (result.content, result.finish_reason, result.usage) == (
        "Hallo, Welt 🌍",
        "stop",
        Usage(8, 4),
    )


def test_gemini_stream():
    gemini, transport = client("gemini", Stream([rec.GEMINI_STREAM]))
    stream = gemini.chat_stream({"api_key": KEY}, chat("models/gemini-2.0-flash"))
    chunks = list(stream)
    [request] = transport.requests
    assert request.url.endswith("/v1beta/models/gemini-2.0-flash:streamGenerateContent")
    assert request.params == {"alt": "sse"}
    assert chunks[-1] == ChatChunk(finish_reason="stop", usage=Usage(8, 5))


def test_gemini_daily_quota_and_bad_key():
    gemini, _ = client("gemini", rec.GEMINI_DAILY_QUOTA, rec.GEMINI_BAD_KEY)
    with pytest.raises(QuotaExhausted, match="exceeded your current quota"):
        gemini.chat({"api_key": KEY}, chat("gemini-2.0-flash"))
    with pytest.raises(AuthenticationFailed, match="API key not valid"):
        gemini.chat({"api_key": KEY}, chat("gemini-2.0-flash"))


# -- Cohere --------------------------------------------------------------------------------------


def test_cohere_chat_is_v2():
    cohere, transport = client("cohere", rec.COHERE_CHAT)
    result = cohere.chat({"api_key": KEY}, chat("command-r-plus"))
    [request] = transport.requests
    assert request.url == "https://api.cohere.com/v2/chat"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.json["messages"][0] == {"role": "system", "content": "Be brief."}
    assert (result.content, result.finish_reason, result.usage) == (
        "¡Hola! ✨",
        "stop",
        Usage(5, 3),
    )


def test_cohere_stream():
    cohere, _ = client("cohere", Stream([rec.COHERE_STREAM]))
    stream = cohere.chat_stream({"api_key": KEY}, chat("command-r-plus"))
    assert "".join(chunk.delta for chunk in stream) == "¡Hola! ✨ ¿Qué tal?"
    assert stream.usage == Usage(5, 7)


def test_cohere_trial_month_is_quota():
    cohere, _ = client("cohere", rec.COHERE_TRIAL_MONTH)
    with pytest.raises(QuotaExhausted, match="1000 API calls / month"):
        cohere.chat({"api_key": KEY}, chat("command-r-plus"))


# -- Ollama --------------------------------------------------------------------------------------


def test_ollama_chat():
    ollama, transport = client("ollama", rec.OLLAMA_CHAT)
    result = ollama.chat({"context_size": 8192}, chat("llama3.2"))
    [request] = transport.requests
    assert request.url == "http://localhost:11434/api/chat"
    assert "Authorization" not in request.headers  # no key, no header
    assert request.json["stream"] is False
    assert request.json["options"] == {"temperature": 0.2, "num_predict": 64, "num_ctx": 8192}
    assert (result.content, result.usage) == ("Hej då 🙂", Usage(26, 4))


def test_ollama_stream_is_ndjson():
    headers = {"content-type": "application/x-ndjson"}
    ollama, transport = client("ollama", Stream([rec.OLLAMA_STREAM], headers))
    stream = ollama.chat_stream({"api_key": "proxy-token"}, chat("llama3.2"))
    assert "".join(chunk.delta for chunk in stream) == "Hej då 🙂, 日本"
    [request] = transport.requests
    assert request.stream == "ndjson"
    assert request.headers["Accept"] == "application/x-ndjson"
    assert request.headers["Authorization"] == "Bearer proxy-token"


def test_ollama_model_not_pulled():
    ollama, _ = client("ollama", rec.OLLAMA_NOT_PULLED)
    with pytest.raises(ModelNotAvailable, match="try pulling it first"):
        ollama.chat({}, chat("mistral"))


# -- ElevenLabs ----------------------------------------------------------------------------------


def test_elevenlabs_speech():
    elevenlabs, transport = client("elevenlabs", rec.ELEVENLABS_AUDIO)
    result = elevenlabs.speak({"api_key": KEY}, "eleven_multilingual_v2", "Grüß Gott")
    [request] = transport.requests
    assert request.url == "https://api.elevenlabs.io/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM"
    assert request.params == {"output_format": "mp3_44100_128"}
    assert request.headers["xi-api-key"] == KEY
    assert request.json == {"text": "Grüß Gott", "model_id": "eleven_multilingual_v2"}
    assert (result.audio, result.content_type) == (rec.ELEVENLABS_AUDIO.content, "audio/mpeg")


def test_elevenlabs_quota_is_read_from_the_status_word():
    elevenlabs, _ = client("elevenlabs", rec.ELEVENLABS_QUOTA)
    with pytest.raises(QuotaExhausted, match="exceeds your quota"):
        elevenlabs.speak({"api_key": KEY}, "eleven_multilingual_v2", "Hi")


# -- Stability AI --------------------------------------------------------------------------------


def test_stability_image_is_a_multipart_form():
    stability, transport = client("stability", rec.STABILITY_IMAGE, rec.STABILITY_IMAGE)
    result = stability.generate_image({"api_key": KEY}, "sd3.5-large", "a fox", n=2, size="16:9")
    first, second = transport.requests
    assert first == second
    assert first.url == "https://api.stability.ai/v2beta/stable-image/generate/sd3"
    assert first.json is None
    assert first.files == {
        "prompt": (None, "a fox"),
        "output_format": (None, "png"),
        "model": (None, "sd3.5-large"),
        "aspect_ratio": (None, "16:9"),
    }
    assert result.images == [{"b64_json": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"}] * 2


def test_stability_without_credits():
    stability, _ = client("stability", rec.STABILITY_NO_CREDITS)
    with pytest.raises(QuotaExhausted, match="lack sufficient credits"):
        stability.generate_image({"api_key": KEY}, "stable-image-core", "a fox")


# -- what an operation does not offer --------------------------------------------------------------


def test_an_operation_a_provider_does_not_offer_fails_before_any_request():
    stability, transport = client("stability")
    with pytest.raises(Exception, match="does not offer chat"):
        stability.chat({"api_key": KEY}, CHAT)
    assert transport.requests == []


def test_response_json_refuses_an_unreadable_body():
    with pytest.raises(UpstreamError, match="HTTP 200, not JSON"):
        Response(200, {}, b"<html>").json()
