"""Model calls through the Anthropic, Gemini, Cohere, Stability and ElevenLabs adapters against
the fake provider APIs (tests/fakes/providers/): what each provider received, and what a
caller gets back, whole, streamed, broken off mid-stream and refused.

The fakes answer a chat with "You said: <the last user message>" and count a token per word,
so a test can tell from the answer and the usage that the request was translated right."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes.providers.base import RETRY_AFTER
from tests.fakes.providers.stability import Stability
from upstream.calling import ProviderClient, get_adapter
from upstream.calls import ChatRequest, ChatResult, ChatStream, Message, Usage
from upstream.errors import (
    AuthenticationFailed,
    BadRequest,
    NotSupported,
    ProviderError,
    RateLimited,
    UpstreamError,
)
from upstream.registry import get_provider

VALID_KEY = "sk-test-valid-1"
CLAUDE = "claude-sonnet-4-5-20250929"
GEMINI = "gemini-2.5-flash"
COMMAND = "command-a-03-2025"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A system prompt, then a conversation ending in two user turns in a row.
CONVERSATION = (
    ("system", "Be brief."),
    ("user", "Hello there"),
    ("assistant", "Hi!"),
    ("user", "Tell me"),
    ("user", "about the sea"),
)
PROMPT_WORDS = 10  # every word of CONVERSATION, the system prompt's too


def adapter(provider_key: str) -> ProviderClient:
    return get_adapter(get_provider(provider_key))


def credentials(server, provider_key: str, key: str = VALID_KEY) -> dict:
    return {"base_url": server.base_url(provider_key), "api_key": key}


def chat_request(model: str, conversation=CONVERSATION, **options) -> ChatRequest:
    messages = tuple(Message(role, content) for role, content in conversation)
    return ChatRequest(model=model, messages=messages, **options)


def received(server, prefix: str):
    """The one request the provider received: (path, query, headers, JSON body or None)."""
    [request] = server.requests_to(prefix)
    parts = urlsplit(request.path)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    try:
        body = json.loads(request.body)
    except ValueError:
        body = None
    return parts.path, query, request.headers, body


def streamed(stream: ChatStream) -> tuple[list[str], str | None, Usage | None]:
    """A stream read to its end: the text deltas, the finish reason, the usage."""
    deltas, finish_reason = [], None
    for chunk in stream:
        if chunk.delta:
            deltas.append(chunk.delta)
        finish_reason = chunk.finish_reason or finish_reason
    return deltas, finish_reason, stream.usage


# -- Anthropic --------------------------------------------------------------------------------


def test_anthropic_chat_puts_the_system_prompt_apart_and_merges_same_role_turns(
    fake_providers,
):
    result = adapter("anthropic").chat(
        credentials(fake_providers, "anthropic"), chat_request(CLAUDE)
    )

    path, _, headers, body = received(fake_providers, "/anthropic/")
    assert path == "/anthropic/v1/messages"
    assert headers["x-api-key"] == VALID_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert body == {
        "model": CLAUDE,
        "max_tokens": 1024,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi!"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Tell me"},
                    {"type": "text", "text": "about the sea"},
                ],
            },
        ],
    }
    assert result == ChatResult(
        content="You said: Tell me about the sea",
        finish_reason="stop",
        usage=Usage(prompt_tokens=PROMPT_WORDS, completion_tokens=7),
        model=CLAUDE,
        headers=result.headers,
    )


def test_anthropic_chat_sends_sampling_options_and_reports_a_stop_sequence(fake_providers):
    request = chat_request(
        CLAUDE, temperature=0.2, top_p=0.9, max_tokens=50, stop=("the sea", "END")
    )

    result = adapter("anthropic").chat(credentials(fake_providers, "anthropic"), request)

    *_, body = received(fake_providers, "/anthropic/")
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.2, 0.9, 50)
    assert body["stop_sequences"] == ["the sea", "END"]
    assert result.content == "You said: Tell me about"
    assert result.finish_reason == "stop"


def test_anthropic_answer_cut_by_max_tokens_finishes_with_length(fake_providers):
    result = adapter("anthropic").chat(
        credentials(fake_providers, "anthropic"), chat_request(CLAUDE, max_tokens=3)
    )
    assert result.content == "You said: Tell"
    assert (result.finish_reason, result.usage.completion_tokens) == ("length", 3)


def test_anthropic_stream_assembles_the_same_answer_with_usage(fake_providers):
    creds = credentials(fake_providers, "anthropic")
    whole = adapter("anthropic").chat(creds, chat_request(CLAUDE))
    fake_providers.reset()

    stream = adapter("anthropic").chat_stream(creds, chat_request(CLAUDE))
    deltas, finish_reason, usage = streamed(stream)

    assert len(deltas) > 2
    assert "".join(deltas) == whole.content
    assert (finish_reason, usage) == ("stop", whole.usage)
    *_, headers, body = received(fake_providers, "/anthropic/")
    assert body["stream"] is True
    assert body["system"] == "Be brief."
    assert headers["accept"] == "text/event-stream"


def test_anthropic_error_event_mid_stream_raises_after_the_first_deltas(fake_providers):
    stream = adapter("anthropic").chat_stream(
        credentials(fake_providers, "anthropic"), chat_request("claude-midstream-test")
    )
    deltas = []
    with pytest.raises(UpstreamError, match="Overloaded") as caught:
        for chunk in stream:
            deltas.append(chunk.delta)

    assert deltas == ["You ", "said: "]
    assert "overloaded for everyone" in caught.value.hint


# -- Gemini -----------------------------------------------------------------------------------


def test_gemini_chat_sends_system_instruction_model_role_and_generation_config(fake_providers):
    request = chat_request(GEMINI, temperature=0.3, top_p=0.8, max_tokens=40, stop=("END",))

    result = adapter("gemini").chat(credentials(fake_providers, "gemini"), request)

    path, query, headers, body = received(fake_providers, "/gemini/")
    assert path == f"/gemini/v1beta/models/{GEMINI}:generateContent"
    assert headers["x-goog-api-key"] == VALID_KEY
    assert query == {}  # the key is never in the URL
    assert body == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hello there"}]},
            {"role": "model", "parts": [{"text": "Hi!"}]},
            {"role": "user", "parts": [{"text": "Tell me"}, {"text": "about the sea"}]},
        ],
        "generationConfig": {
            "temperature": 0.3,
            "topP": 0.8,
            "maxOutputTokens": 40,
            "stopSequences": ["END"],
        },
    }
    assert result.content == "You said: Tell me about the sea"
    assert result.finish_reason == "stop"
    assert result.usage == Usage(prompt_tokens=PROMPT_WORDS, completion_tokens=7)


def test_gemini_chat_without_options_sends_no_generation_config(fake_providers):
    adapter("gemini").chat(credentials(fake_providers, "gemini"), chat_request(GEMINI))
    *_, body = received(fake_providers, "/gemini/")
    assert "generationConfig" not in body


@pytest.mark.parametrize(
    ("options", "last_message", "content", "finish_reason"),
    [
        ({"max_tokens": 2}, "Tell me about the sea", "You said:", "length"),
        ({}, "something dangerous", "", "content_filter"),
    ],
)
def test_gemini_finish_reasons_become_openai_words(
    fake_providers, options, last_message, content, finish_reason
):
    request = chat_request(GEMINI, (("user", last_message),), **options)
    result = adapter("gemini").chat(credentials(fake_providers, "gemini"), request)
    assert (result.content, result.finish_reason) == (content, finish_reason)


def test_gemini_stream_assembles_the_same_answer_with_usage(fake_providers):
    creds = credentials(fake_providers, "gemini")
    whole = adapter("gemini").chat(creds, chat_request(GEMINI))
    fake_providers.reset()

    deltas, finish_reason, usage = streamed(
        adapter("gemini").chat_stream(creds, chat_request(GEMINI))
    )

    assert len(deltas) > 2
    assert "".join(deltas) == whole.content
    assert (finish_reason, usage) == ("stop", whole.usage)
    path, query, _, body = received(fake_providers, "/gemini/")
    assert path == f"/gemini/v1beta/models/{GEMINI}:streamGenerateContent"
    assert query == {"alt": "sse"}
    assert body["contents"][-1]["parts"] == [{"text": "Tell me"}, {"text": "about the sea"}]


def test_gemini_error_mid_stream_raises_after_the_first_deltas(fake_providers):
    stream = adapter("gemini").chat_stream(
        credentials(fake_providers, "gemini"), chat_request("gemini-midstream-test")
    )
    deltas = []
    with pytest.raises(UpstreamError, match="The model is overloaded"):
        for chunk in stream:
            deltas.append(chunk.delta)
    assert deltas == ["You ", "said: "]


def test_gemini_embeddings_come_back_in_input_order_across_batches(fake_providers):
    inputs = [f"text {'x' * i}" for i in range(150)]  # more than one batch of 100

    result = adapter("gemini").embed(
        credentials(fake_providers, "gemini"), "gemini-embedding-001", inputs
    )

    assert [vector[0] for vector in result.vectors] == [float(len(text)) for text in inputs]
    assert result.usage == Usage()  # Gemini reports no token usage for embeddings
    requests = fake_providers.requests_to("/gemini/")
    assert [r.path for r in requests] == [
        "/gemini/v1beta/models/gemini-embedding-001:batchEmbedContents"
    ] * 2
    first = json.loads(requests[0].body)["requests"]
    assert len(first) == 100
    assert first[0] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "text "}]},
    }


# -- Cohere -----------------------------------------------------------------------------------


def test_cohere_chat_sends_roles_in_order_and_its_own_option_names(fake_providers):
    request = chat_request(COMMAND, temperature=0.4, top_p=0.75, max_tokens=30, stop=("END",))

    result = adapter("cohere").chat(credentials(fake_providers, "cohere"), request)

    path, _, headers, body = received(fake_providers, "/cohere/")
    assert path == "/cohere/v2/chat"
    assert headers["authorization"] == f"Bearer {VALID_KEY}"
    assert body == {
        "model": COMMAND,
        "messages": [{"role": role, "content": content} for role, content in CONVERSATION],
        "temperature": 0.4,
        "p": 0.75,
        "max_tokens": 30,
        "stop_sequences": ["END"],
    }
    assert result.content == "You said: about the sea"
    assert result.finish_reason == "stop"
    # The billed tokens, not the raw count with Cohere's prompt template.
    assert result.usage == Usage(prompt_tokens=PROMPT_WORDS, completion_tokens=5)


def test_cohere_answer_cut_by_max_tokens_finishes_with_length(fake_providers):
    result = adapter("cohere").chat(
        credentials(fake_providers, "cohere"), chat_request(COMMAND, max_tokens=2)
    )
    assert (result.content, result.finish_reason) == ("You said:", "length")


def test_cohere_stream_assembles_the_same_answer_with_usage(fake_providers):
    creds = credentials(fake_providers, "cohere")
    whole = adapter("cohere").chat(creds, chat_request(COMMAND))
    fake_providers.reset()

    deltas, finish_reason, usage = streamed(
        adapter("cohere").chat_stream(creds, chat_request(COMMAND))
    )

    assert len(deltas) > 2
    assert "".join(deltas) == whole.content
    assert (finish_reason, usage) == ("stop", whole.usage)
    *_, body = received(fake_providers, "/cohere/")
    assert body["stream"] is True


def test_cohere_generation_error_mid_stream_raises_after_the_first_deltas(fake_providers):
    stream = adapter("cohere").chat_stream(
        credentials(fake_providers, "cohere"), chat_request("command-midstream-test")
    )
    deltas = []
    with pytest.raises(UpstreamError, match="generation was interrupted"):
        for chunk in stream:
            deltas.append(chunk.delta)
    assert deltas == ["You ", "said: "]


def test_cohere_embeddings_are_float_vectors_in_input_order_with_billed_tokens(fake_providers):
    inputs = [f"document {'word ' * i}".strip() for i in range(100)]  # two batches of <= 96

    result = adapter("cohere").embed(credentials(fake_providers, "cohere"), "embed-v4.0", inputs)

    assert [vector[0] for vector in result.vectors] == [float(len(text)) for text in inputs]
    assert result.usage == Usage(prompt_tokens=sum(len(t.split()) for t in inputs))
    requests = fake_providers.requests_to("/cohere/")
    assert [r.path for r in requests] == ["/cohere/v2/embed"] * 2
    first = json.loads(requests[0].body)
    assert first["texts"] == inputs[:96]
    assert (first["model"], first["input_type"], first["embedding_types"]) == (
        "embed-v4.0",
        "search_document",
        ["float"],
    )


# -- every chat provider ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider_key", "model"),
    [
        ("anthropic", "claude-truncated"),
        ("gemini", "gemini-truncated"),
        ("cohere", "command-truncated"),
    ],
)
def test_a_stream_cut_off_before_its_end_raises_rather_than_pass_for_complete(
    fake_providers, provider_key, model
):
    stream = adapter(provider_key).chat_stream(
        credentials(fake_providers, provider_key), chat_request(model)
    )
    deltas = []
    with pytest.raises(UpstreamError, match="ended before the answer was complete"):
        for chunk in stream:
            deltas.append(chunk.delta)
    assert deltas == ["You ", "said: "]


@pytest.mark.parametrize(
    ("provider_key", "model"), [("anthropic", CLAUDE), ("gemini", GEMINI), ("cohere", COMMAND)]
)
def test_a_chat_with_only_a_system_prompt_is_refused_before_calling(
    fake_providers, provider_key, model
):
    request = chat_request(model, (("system", "Be brief."),))
    with pytest.raises(BadRequest, match="at least one user or assistant message"):
        adapter(provider_key).chat(credentials(fake_providers, provider_key), request)
    assert fake_providers.requests == []


# -- Stability --------------------------------------------------------------------------------


def form_fields(server) -> dict[str, str]:
    [request] = server.requests_to("/stability/")
    return Stability.form(request)


def test_stability_image_is_a_png_from_a_multipart_core_request(fake_providers):
    result = adapter("stability").generate_image(
        credentials(fake_providers, "stability"), "stable-image-core", "a lighthouse at dusk"
    )

    [image] = result.images
    assert base64.b64decode(image["b64_json"]).startswith(PNG_SIGNATURE)
    [request] = fake_providers.requests_to("/stability/")
    assert request.path == "/stability/v2beta/stable-image/generate/core"
    assert request.headers["authorization"] == f"Bearer {VALID_KEY}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert form_fields(fake_providers) == {
        "prompt": "a lighthouse at dusk",
        "output_format": "png",
    }


def test_stability_sd3_names_its_model_and_size_becomes_an_aspect_ratio(fake_providers):
    adapter("stability").generate_image(
        credentials(fake_providers, "stability"), "sd3.5-large", "a fox", size="1792x1024"
    )
    [request] = fake_providers.requests_to("/stability/")
    assert request.path == "/stability/v2beta/stable-image/generate/sd3"
    assert form_fields(fake_providers) == {
        "prompt": "a fox",
        "output_format": "png",
        "model": "sd3.5-large",
        "aspect_ratio": "16:9",
    }


def test_stability_several_images_are_several_requests(fake_providers):
    result = adapter("stability").generate_image(
        credentials(fake_providers, "stability"), "stable-image-ultra", "a fox", n=3
    )
    assert len(result.images) == 3
    assert all(base64.b64decode(i["b64_json"]).startswith(PNG_SIGNATURE) for i in result.images)
    paths = [r.path for r in fake_providers.requests_to("/stability/")]
    assert paths == ["/stability/v2beta/stable-image/generate/ultra"] * 3


def test_stability_filtered_image_is_a_refused_prompt(fake_providers):
    with pytest.raises(BadRequest, match="content moderation"):
        adapter("stability").generate_image(
            credentials(fake_providers, "stability"), "stable-image-core", "filtered subject"
        )


def test_stability_model_without_a_v2_endpoint_is_not_supported(fake_providers):
    with pytest.raises(NotSupported):
        adapter("stability").generate_image(
            credentials(fake_providers, "stability"), "stable-diffusion-xl-1024-v1-0", "a fox"
        )
    assert fake_providers.requests == []


# -- ElevenLabs -------------------------------------------------------------------------------


def test_elevenlabs_speech_is_mp3_in_the_default_voice(fake_providers):
    result = adapter("elevenlabs").speak(
        credentials(fake_providers, "elevenlabs"), "eleven_multilingual_v2", "Hello from the sea"
    )

    assert result.content_type == "audio/mpeg"
    assert result.audio.startswith(b"ID3")
    assert b"\xff\xfb" in result.audio  # an MPEG audio frame
    path, query, headers, body = received(fake_providers, "/elevenlabs/")
    assert path == "/elevenlabs/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM"
    assert query == {"output_format": "mp3_44100_128"}
    assert headers["xi-api-key"] == VALID_KEY
    assert body == {"text": "Hello from the sea", "model_id": "eleven_multilingual_v2"}


def test_elevenlabs_speaks_in_the_chosen_voice_and_format(fake_providers):
    result = adapter("elevenlabs").speak(
        credentials(fake_providers, "elevenlabs"),
        "eleven_flash_v2_5",
        "Hello",
        voice="JBFqnCBsd6RMkjVDRZzb",
        audio_format="opus",
    )
    assert result.content_type == "audio/opus"
    path, query, *_ = received(fake_providers, "/elevenlabs/")
    assert path == "/elevenlabs/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb"
    assert query == {"output_format": "opus_48000_128"}


def test_elevenlabs_unknown_voice_is_a_bad_request(fake_providers):
    with pytest.raises(BadRequest, match="voice_id nobody was not found"):
        adapter("elevenlabs").speak(
            credentials(fake_providers, "elevenlabs"), "eleven_v3", "Hello", voice="nobody"
        )


# -- errors, for every call ---------------------------------------------------------------------


CALLS = {
    "chat": lambda a, creds, model: a.chat(creds, chat_request(model)),
    "stream": lambda a, creds, model: a.chat_stream(creds, chat_request(model)),
    "embed": lambda a, creds, model: a.embed(creds, model, ["hello", "world"]),
    "image": lambda a, creds, model: a.generate_image(creds, model, "a fox"),
    "speech": lambda a, creds, model: a.speak(creds, model, "Hello"),
}
CALL_CASES = [
    ("anthropic", "chat", CLAUDE),
    ("anthropic", "stream", CLAUDE),
    ("gemini", "chat", GEMINI),
    ("gemini", "stream", GEMINI),
    ("gemini", "embed", "gemini-embedding-001"),
    ("cohere", "chat", COMMAND),
    ("cohere", "stream", COMMAND),
    ("cohere", "embed", "embed-v4.0"),
    ("stability", "image", "stable-image-core"),
    ("elevenlabs", "speech", "eleven_multilingual_v2"),
]
ERROR_SCENARIOS = [
    ("invalid", AuthenticationFailed),
    ("ratelimited", RateLimited),
    ("error500", UpstreamError),
    ("malformed", UpstreamError),  # a 200 with an HTML page (a captive portal)
]


@pytest.mark.parametrize(("provider_key", "call", "model"), CALL_CASES)
@pytest.mark.parametrize(("scenario", "expected"), ERROR_SCENARIOS)
def test_a_failed_call_raises_the_mapped_error_before_any_answer(
    fake_providers, provider_key, call, model, scenario, expected
):
    """For streams too: the error raises from `chat_stream()` itself, before a chunk exists,
    so the caller can still fail over to another credential."""
    key = f"sk-{scenario}-{provider_key}-7f3a9c2e1b4d"

    with pytest.raises(expected) as caught:
        CALLS[call](adapter(provider_key), credentials(fake_providers, provider_key, key), model)

    error: ProviderError = caught.value
    if scenario == "ratelimited":
        assert error.retry_after == RETRY_AFTER
    assert key not in error.message
    assert len(fake_providers.requests) == 1
