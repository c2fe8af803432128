"""Model calls through the OpenAI-format adapters (OpenAI, OpenAI-compatible servers, Azure
OpenAI) and Ollama, against the fake provider APIs over real HTTP (tests/fakes/providers/).

The fakes answer "You said: <last user message>" and count a token per word, so each test can
check both what the provider received and what came back."""

from __future__ import annotations

import base64
import json

import pytest

from tests.fakes.providers.base import RETRY_AFTER
from tests.fakes.providers.openai import OpenAI
from upstream.calling import ProviderClient, get_adapter
from upstream.calls import ChatRequest, Message, Usage
from upstream.errors import (
    AuthenticationFailed,
    BadRequest,
    ModelNotAvailable,
    ProviderError,
    RateLimited,
    UpstreamError,
)
from upstream.registry import get_provider

VALID_KEY = "sk-test-valid-1"
PROXY_TOKEN = "ollama-proxy-token-7f3a9c2e1b4d"
ANSWER = "You said: Tell me a joke"
# "Be brief." + "Hello there" + "Hi!" + "Tell me a joke": a token per word.
PROMPT_TOKENS = 9
CHAT_MODEL = {"openai": "gpt-4o", "azure_openai": "gpt-4o", "ollama": "llama3.2"}
EMBEDDING_MODEL = {
    "openai": "text-embedding-3-small",
    "azure_openai": "my-embedding",
    "ollama": "nomic-embed-text",
}


def adapter(provider_key: str) -> ProviderClient:
    return get_adapter(get_provider(provider_key))


def credentials(server, provider_key: str = "openai", key: str = VALID_KEY, **extra) -> dict:
    scenario = extra.pop("scenario", None)
    values = {"base_url": server.base_url(provider_key, scenario), "api_key": key, **extra}
    if provider_key == "azure_openai":
        values.setdefault("api_version", "2024-10-21")
    return values


def scenario_credentials(server, provider_key: str, scenario: str) -> dict:
    """The scenario named by the key; Ollama, keyless, gets it from the base URL."""
    if provider_key == "ollama":
        return credentials(server, "ollama", PROXY_TOKEN, scenario=scenario)
    return credentials(server, provider_key, f"sk-{scenario}-{provider_key}-7f3a9c2e1b4d")


def conversation(model: str = "gpt-4o", **settings) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=(
            Message("system", "Be brief."),
            Message("user", "Hello there"),
            Message("assistant", "Hi!"),
            Message("user", "Tell me a joke"),
        ),
        **settings,
    )


def last_request(server):
    assert server.requests, "the provider received nothing"
    return server.requests[-1]


def last_body(server) -> dict:
    return json.loads(last_request(server).body)


def read_all(stream) -> tuple[str, list]:
    chunks = list(stream)
    return "".join(chunk.delta for chunk in chunks), chunks


# -- OpenAI chat ------------------------------------------------------------------------------


def test_chat_sends_the_conversation_in_order_with_its_settings(fake_providers):
    request = conversation(temperature=0.2, top_p=0.9, max_tokens=50, stop=("END",))
    adapter("openai").chat(credentials(fake_providers), request)

    sent = last_request(fake_providers)
    assert (sent.method, sent.path) == ("POST", "/openai/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {VALID_KEY}"
    assert json.loads(sent.body) == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "Tell me a joke"},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "stop": ["END"],
    }


def test_chat_leaves_out_settings_that_were_not_chosen(fake_providers):
    adapter("openai").chat(credentials(fake_providers), conversation())
    assert set(last_body(fake_providers)) == {"model", "messages"}


def test_chat_returns_the_answer_with_its_usage_and_finish_reason(fake_providers):
    result = adapter("openai").chat(credentials(fake_providers), conversation())
    assert result.content == ANSWER
    assert result.finish_reason == "stop"
    assert result.usage == Usage(prompt_tokens=PROMPT_TOKENS, completion_tokens=6)
    assert result.model == "gpt-4o"
    assert result.headers["x-ratelimit-remaining-requests"] == "499"


def test_max_tokens_cuts_the_answer_short_with_finish_reason_length(fake_providers):
    result = adapter("openai").chat(credentials(fake_providers), conversation(max_tokens=3))
    assert (result.content, result.finish_reason) == ("You said: Tell", "length")
    assert result.usage.completion_tokens == 3


def test_a_stop_sequence_ends_the_answer_before_it(fake_providers):
    result = adapter("openai").chat(credentials(fake_providers), conversation(stop=("joke",)))
    assert (result.content, result.finish_reason) == ("You said: Tell me a", "stop")


def test_reasoning_models_get_max_completion_tokens(fake_providers):
    result = adapter("openai").chat(
        credentials(fake_providers), conversation(model="o3", max_tokens=3)
    )
    body = last_body(fake_providers)
    assert body["max_completion_tokens"] == 3
    assert "max_tokens" not in body
    assert result.finish_reason == "length"


# -- OpenAI streamed chat ---------------------------------------------------------------------


def test_a_stream_assembles_the_same_answer_in_several_chunks_with_usage(fake_providers):
    creds = credentials(fake_providers)
    whole = adapter("openai").chat(creds, conversation())
    stream = adapter("openai").chat_stream(creds, conversation())
    text, chunks = read_all(stream)

    assert text == whole.content
    assert len([chunk for chunk in chunks if chunk.delta]) == len(ANSWER.split())
    assert [chunk.finish_reason for chunk in chunks if chunk.finish_reason] == ["stop"]
    assert stream.usage == whole.usage
    assert stream.model == "gpt-4o"
    assert stream.headers["x-ratelimit-remaining-requests"] == "499"


def test_a_stream_asks_for_events_and_for_its_usage(fake_providers):
    read_all(adapter("openai").chat_stream(credentials(fake_providers), conversation()))
    sent = last_request(fake_providers)
    assert sent.headers["accept"] == "text/event-stream"
    body = json.loads(sent.body)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_a_stream_cut_by_max_tokens_says_length(fake_providers):
    stream = adapter("openai").chat_stream(credentials(fake_providers), conversation(max_tokens=2))
    text, chunks = read_all(stream)
    assert text == "You said:"
    assert chunks[-2].finish_reason == "length"
    assert stream.usage == Usage(PROMPT_TOKENS, 2)


def test_an_error_event_mid_stream_raises_after_the_first_chunks(fake_providers):
    stream = adapter("openai").chat_stream(
        credentials(fake_providers), conversation(model="gpt-4o-midstream")
    )
    received = []
    with pytest.raises(UpstreamError, match="The server had an error"):
        for chunk in stream:
            received.append(chunk.delta)
    assert "".join(received) == "You said: "


def test_a_connection_broken_mid_stream_raises(fake_providers):
    stream = adapter("openai").chat_stream(
        credentials(fake_providers), conversation(model="gpt-4o-hangup")
    )
    received = []
    with pytest.raises(UpstreamError, match="connection broke"):
        for chunk in stream:
            received.append(chunk.delta)
    assert "".join(received) == "You said: "


def test_closing_a_stream_early_stops_it(fake_providers):
    stream = adapter("openai").chat_stream(credentials(fake_providers), conversation())
    chunks = iter(stream)
    assert next(chunks).delta == "You "
    stream.close()
    stream.close()  # a second close (the client went away twice) is harmless
    assert list(chunks) == []
    assert stream.usage is None


def test_leaving_the_loop_closes_the_stream(fake_providers):
    stream = adapter("openai").chat_stream(credentials(fake_providers), conversation())
    for _chunk in stream:
        break
    assert list(stream) == []  # the loop's end closed it, not the caller


# -- errors before any answer, for every call that has them ------------------------------------

ERROR_SCENARIOS = [
    ("invalid", AuthenticationFailed),
    ("ratelimited", RateLimited),
    ("error500", UpstreamError),
]


def call(provider_key: str, kind: str, creds: dict):
    if kind == "chat":
        return adapter(provider_key).chat(creds, conversation(CHAT_MODEL[provider_key]))
    if kind == "stream":
        return adapter(provider_key).chat_stream(creds, conversation(CHAT_MODEL[provider_key]))
    return adapter(provider_key).embed(creds, EMBEDDING_MODEL[provider_key], ["hello"])


@pytest.mark.parametrize("provider_key", ["openai", "azure_openai", "ollama"])
@pytest.mark.parametrize("kind", ["chat", "stream", "embed"])
@pytest.mark.parametrize(("scenario", "expected"), ERROR_SCENARIOS)
def test_errors_raise_from_the_call_itself(fake_providers, provider_key, kind, scenario, expected):
    creds = scenario_credentials(fake_providers, provider_key, scenario)
    if provider_key == "azure_openai":
        creds["deployment"] = "my-embedding" if kind == "embed" else "my-gpt-4o"
    with pytest.raises(expected) as caught:
        call(provider_key, kind, creds)  # a stream raises here, before any chunk is read
    if expected is RateLimited:
        assert caught.value.retry_after == RETRY_AFTER
    assert len(fake_providers.requests) == 1


@pytest.mark.parametrize("provider_key", ["openai", "azure_openai", "ollama"])
def test_a_web_page_instead_of_a_stream_fails_before_any_chunk(fake_providers, provider_key):
    creds = scenario_credentials(fake_providers, provider_key, "malformed")
    if provider_key == "azure_openai":
        creds["deployment"] = "my-gpt-4o"
    with pytest.raises(UpstreamError, match="web page"):
        call(provider_key, "stream", creds)


def test_an_error_message_never_shows_the_key(fake_providers):
    creds = scenario_credentials(fake_providers, "openai", "echo")
    with pytest.raises(AuthenticationFailed) as caught:
        adapter("openai").chat_stream(creds, conversation())
    assert creds["api_key"] not in caught.value.message


# -- OpenAI embeddings, moderation, images, audio ----------------------------------------------


def test_embeddings_come_back_in_the_order_of_the_inputs(fake_providers):
    inputs = ["alpha", "beta gamma", "delta"]
    result = adapter("openai").embed(credentials(fake_providers), "text-embedding-3-small", inputs)
    # The fake lists the vectors last first; each one's index puts it back in place.
    assert result.vectors == [OpenAI.vector(text) for text in inputs]
    assert result.usage == Usage(prompt_tokens=4)
    assert result.model == "text-embedding-3-small"
    sent = last_request(fake_providers)
    assert sent.path == "/openai/v1/embeddings"
    assert json.loads(sent.body) == {"model": "text-embedding-3-small", "input": inputs}


def test_moderation_returns_a_result_per_input(fake_providers):
    result = adapter("openai").moderate(
        credentials(fake_providers),
        "omni-moderation-latest",
        ["I will kill the process", "Have a nice day"],
    )
    flagged, clean = result.results
    assert flagged["flagged"] is True and flagged["categories"]["violence"] is True
    assert flagged["category_scores"]["violence"] > 0.5
    assert clean["flagged"] is False and not any(clean["categories"].values())
    assert result.model == "omni-moderation-latest"


def test_dall_e_images_are_asked_for_as_base64(fake_providers):
    result = adapter("openai").generate_image(
        credentials(fake_providers), "dall-e-3", "a red fox", size="1024x1024"
    )
    assert json.loads(last_request(fake_providers).body) == {
        "model": "dall-e-3",
        "prompt": "a red fox",
        "n": 1,
        "size": "1024x1024",
        "response_format": "b64_json",
    }
    [image] = result.images
    assert base64.b64decode(image["b64_json"]).startswith(b"\x89PNG")


def test_gpt_image_is_not_sent_a_response_format_it_would_refuse(fake_providers):
    result = adapter("openai").generate_image(
        credentials(fake_providers), "gpt-image-1", "a red fox", n=2
    )
    assert "response_format" not in last_body(fake_providers)
    assert result.images == [{"b64_json": OpenAI.TINY_PNG}] * 2


def test_a_dall_e_3_refusal_is_a_bad_request(fake_providers):
    with pytest.raises(BadRequest, match="n=1"):
        adapter("openai").generate_image(credentials(fake_providers), "dall-e-3", "a fox", n=2)


def test_transcription_uploads_the_file_with_the_model_and_language(fake_providers):
    audio = b"ID3\x04\x00" + bytes(range(256))
    result = adapter("openai").transcribe(
        credentials(fake_providers),
        "whisper-1",
        audio,
        filename="meeting.mp3",
        content_type="audio/mpeg",
        language="en",
    )
    assert result.text == f"{len(audio)} bytes of audio/mpeg from meeting.mp3 in en"
    assert result.model == "whisper-1"
    sent = last_request(fake_providers)
    assert sent.path == "/openai/v1/audio/transcriptions"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert audio in sent.body
    assert b'name="model"\r\n\r\nwhisper-1\r\n' in sent.body


def test_speech_returns_the_audio_bytes_and_their_type(fake_providers):
    result = adapter("openai").speak(credentials(fake_providers), "tts-1", "Hello world")
    assert result.audio.startswith(b"ID3")
    assert result.audio.endswith(b"alloy:Hello world")  # the default voice
    assert result.content_type == "audio/mpeg"
    assert json.loads(last_request(fake_providers).body) == {
        "model": "tts-1",
        "input": "Hello world",
        "voice": "alloy",
        "response_format": "mp3",
    }


def test_speech_in_another_voice_and_format(fake_providers):
    result = adapter("openai").speak(
        credentials(fake_providers), "tts-1-hd", "Hi", voice="nova", audio_format="opus"
    )
    assert result.audio.endswith(b"nova:Hi")
    assert result.content_type == "audio/opus"


def test_a_speech_error_is_classified_although_the_answer_is_not_json(fake_providers):
    with pytest.raises(RateLimited) as caught:
        adapter("openai").speak(
            scenario_credentials(fake_providers, "openai", "ratelimited"), "tts-1", "Hi"
        )
    assert caught.value.retry_after == RETRY_AFTER


# -- OpenAI-compatible servers ----------------------------------------------------------------


def test_an_openai_compatible_server_works_through_the_same_adapter(fake_providers):
    creds = credentials(fake_providers, "openai_compatible")
    compatible = adapter("openai_compatible")
    result = compatible.chat(creds, conversation(model="local-model"))
    text, _ = read_all(compatible.chat_stream(creds, conversation(model="local-model")))
    vectors = compatible.embed(creds, "local-embed", ["one", "two"]).vectors

    assert result.content == text == ANSWER
    assert vectors == [OpenAI.vector("one"), OpenAI.vector("two")]
    paths = [request.path for request in fake_providers.requests]
    assert paths == [
        "/openai/v1/chat/completions",
        "/openai/v1/chat/completions",
        "/openai/v1/embeddings",
    ]


# -- Azure OpenAI -----------------------------------------------------------------------------


def test_azure_chat_goes_to_the_deployment_with_the_api_version(fake_providers):
    creds = credentials(fake_providers, "azure_openai", deployment="my-gpt-4o")
    result = adapter("azure_openai").chat(creds, conversation(max_tokens=50))

    sent = last_request(fake_providers)
    assert (
        sent.path == "/azure/openai/deployments/my-gpt-4o/chat/completions?api-version=2024-10-21"
    )
    assert sent.headers["api-key"] == VALID_KEY
    assert "authorization" not in sent.headers
    assert json.loads(sent.body)["messages"][0] == {"role": "system", "content": "Be brief."}
    assert result.content == ANSWER
    assert result.usage == Usage(PROMPT_TOKENS, 6)
    assert result.model == "gpt-4o-2024-08-06"


def test_azure_without_a_deployment_value_uses_the_model_name(fake_providers):
    creds = credentials(fake_providers, "azure_openai", api_version="2025-04-01-preview")
    adapter("azure_openai").chat(creds, conversation(model="my-gpt-4o"))
    assert last_request(fake_providers).path == (
        "/azure/openai/deployments/my-gpt-4o/chat/completions?api-version=2025-04-01-preview"
    )


def test_azure_stream_skips_the_prompt_filter_chunk_and_reports_usage(fake_providers):
    creds = credentials(fake_providers, "azure_openai", deployment="my-gpt-4o")
    stream = adapter("azure_openai").chat_stream(creds, conversation())
    text, chunks = read_all(stream)
    assert text == ANSWER
    assert chunks[0].delta == "You "  # the empty-choices filter note yields nothing
    assert stream.usage == Usage(PROMPT_TOKENS, 6)
    assert last_body(fake_providers)["stream_options"] == {"include_usage": True}


def test_azure_api_versions_without_stream_options_still_stream(fake_providers):
    creds = credentials(
        fake_providers, "azure_openai", deployment="my-gpt-4o", api_version="2024-06-01"
    )
    stream = adapter("azure_openai").chat_stream(creds, conversation())
    text, chunks = read_all(stream)
    assert "stream_options" not in last_body(fake_providers)
    assert text == ANSWER
    assert chunks[-1].finish_reason == "stop"
    assert stream.usage is None  # this API version cannot report it


def test_azure_error_mid_stream_raises(fake_providers):
    fake_providers.deployments["my-midstream"] = "gpt-4o"
    creds = credentials(fake_providers, "azure_openai", deployment="my-midstream")
    with pytest.raises(UpstreamError, match="stream failed"):
        read_all(adapter("azure_openai").chat_stream(creds, conversation()))


def test_azure_embeddings_go_to_the_embedding_deployment(fake_providers):
    creds = credentials(fake_providers, "azure_openai")
    result = adapter("azure_openai").embed(creds, "my-embedding", ["alpha", "beta"])
    sent = last_request(fake_providers)
    assert sent.path == "/azure/openai/deployments/my-embedding/embeddings?api-version=2024-10-21"
    assert json.loads(sent.body) == {"input": ["alpha", "beta"]}
    assert result.vectors == [OpenAI.vector("alpha"), OpenAI.vector("beta")]
    assert result.usage == Usage(prompt_tokens=2)


def test_an_unknown_azure_deployment_is_not_available(fake_providers):
    creds = credentials(fake_providers, "azure_openai", deployment="no-such-deployment")
    with pytest.raises(ModelNotAvailable, match="deployment"):
        adapter("azure_openai").chat(creds, conversation())


# -- Ollama -----------------------------------------------------------------------------------


def test_ollama_chat_sends_settings_as_options(fake_providers):
    creds = credentials(fake_providers, "ollama", context_size=8192)
    request = conversation("llama3.2", temperature=0.2, top_p=0.9, max_tokens=50, stop=("END",))
    result = adapter("ollama").chat(creds, request)

    sent = last_request(fake_providers)
    assert sent.path == "/ollama/api/chat"
    body = json.loads(sent.body)
    assert body["stream"] is False
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["options"] == {
        "temperature": 0.2,
        "top_p": 0.9,
        "num_predict": 50,
        "stop": ["END"],
        "num_ctx": 8192,
    }
    assert result.content == ANSWER
    assert result.finish_reason == "stop"
    assert result.usage == Usage(PROMPT_TOKENS, 6)


def test_ollama_num_predict_cuts_the_answer_short(fake_providers):
    result = adapter("ollama").chat(
        credentials(fake_providers, "ollama"), conversation("llama3.2", max_tokens=2)
    )
    assert (result.content, result.finish_reason) == ("You said:", "length")


def test_ollama_stream_reads_ndjson_lines(fake_providers):
    creds = credentials(fake_providers, "ollama")
    whole = adapter("ollama").chat(creds, conversation("llama3.2"))
    stream = adapter("ollama").chat_stream(creds, conversation("llama3.2"))
    text, chunks = read_all(stream)

    assert text == whole.content
    assert len(chunks) > 2
    assert chunks[-1].finish_reason == "stop"
    assert stream.usage == whole.usage
    sent = last_request(fake_providers)
    assert json.loads(sent.body)["stream"] is True
    assert sent.headers["accept"] == "application/x-ndjson"


@pytest.mark.parametrize(
    ("model", "message"),
    [("llama3.2-midstream", "error was encountered"), ("llama3.2-hangup", "connection broke")],
)
def test_ollama_faults_mid_stream_raise(fake_providers, model, message):
    stream = adapter("ollama").chat_stream(
        credentials(fake_providers, "ollama"), conversation(model)
    )
    received = []
    with pytest.raises(ProviderError, match=message):
        for chunk in stream:
            received.append(chunk.delta)
    assert "".join(received) == "You said: "


def test_closing_an_ollama_stream_early_stops_it(fake_providers):
    stream = adapter("ollama").chat_stream(
        credentials(fake_providers, "ollama"), conversation("llama3.2")
    )
    chunks = iter(stream)
    next(chunks)
    stream.close()
    assert list(chunks) == []


def test_ollama_model_not_pulled_is_not_available(fake_providers):
    with pytest.raises(ModelNotAvailable, match="try pulling it first"):
        adapter("ollama").chat(credentials(fake_providers, "ollama"), conversation("mistral"))


def test_ollama_embeddings(fake_providers):
    result = adapter("ollama").embed(
        credentials(fake_providers, "ollama"), "nomic-embed-text", ["alpha", "beta gamma"]
    )
    sent = last_request(fake_providers)
    assert sent.path == "/ollama/api/embed"
    assert json.loads(sent.body) == {"model": "nomic-embed-text", "input": ["alpha", "beta gamma"]}
    assert result.vectors == [OpenAI.vector("alpha"), OpenAI.vector("beta gamma")]
    assert result.usage == Usage(prompt_tokens=3)
