"""OpenAI and every OpenAI-compatible server: a Bearer key under `{base_url}` for the model list,
chat (plain and streamed), embeddings, moderation, images, speech to text and text to speech.

The OpenAI wire format lives here once (`chat_body`, `chat_result`, `chat_chunks`,
`embedding_result`); Azure OpenAI sends the same bodies to its deployment URLs.

Streams are server-sent events: `data: {chunk}` events whose `choices[0].delta.content` carries
the text, a chunk with `finish_reason`, then (when `stream_options.include_usage` was asked)
one with empty `choices` and the `usage`, and `data: [DONE]`. A `data: {"error": ...}` event
instead of a chunk is a fault mid-stream. Image generation waits for the whole picture before
the first byte, so it reads with a longer timeout than other calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from django.conf import settings

from ..calls import (
    CHAT_OPTIONS,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    ImagePart,
    ImageResult,
    Message,
    ModerationResult,
    NamedTool,
    SpeechResult,
    ToolCall,
    ToolCallDelta,
    TranscriptionResult,
    Usage,
)
from ..errors import UpstreamError, scrub
from ..http import Request
from ..schema import MODEL_FEATURES
from ..streams import AudioParser, ChunkParser, OpenedStream, ServerSentEvent
from .base import (
    DiscoveredModel,
    Operation,
    ProviderAdapter,
    reported_usage,
    unreadable_usage,
    with_reasoning,
)

EMBEDDING_HINTS = ("embed",)
# Models that refuse `max_tokens` and take `max_completion_tokens` instead.
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
# Only DALL-E takes `response_format`; GPT Image always answers base64 and refuses the field.
RESPONSE_FORMAT_IMAGE_MODELS = ("dall-e-2", "dall-e-3")
VERBOSE_TRANSCRIPTION_MODELS = ("whisper",)
IMAGE_READ_TIMEOUT = 180.0
DEFAULT_VOICE = "alloy"
SPEECH_CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


# Every ChatRequest option, and fields the gateway does not know (`extra`): passed through.
OPENAI_CHAT_OPTIONS = CHAT_OPTIONS | {"extra"}
# OpenRouter-like lists (https://openrouter.ai/docs/models): `supported_parameters` names the
# request fields a model honours, `architecture.input_modalities` what it reads. OpenAI's own
# /v1/models says neither, and then nothing is known.
_PARAMETER_FEATURES = {
    "tools": "tool-call",
    "response_format": "json-mode",
    "structured_outputs": "structured-output",
    "reasoning": "reasoning",
}
_MODALITY_FEATURES = {"image": "vision", "audio": "audio", "file": "document"}


def listed_features(item: dict) -> tuple[str, ...] | None:
    """The features a model list item says the model has (None: it says nothing)."""
    parameters = item.get("supported_parameters")
    if not isinstance(parameters, list):
        return None
    found = {"streaming"}  # every chat model of such a list streams
    found.update(_PARAMETER_FEATURES[p] for p in parameters if p in _PARAMETER_FEATURES)
    architecture = item.get("architecture")
    modalities = architecture.get("input_modalities") if isinstance(architecture, dict) else None
    if isinstance(modalities, list):
        found.update(_MODALITY_FEATURES[m] for m in modalities if m in _MODALITY_FEATURES)
    return tuple(f for f in MODEL_FEATURES if f in found)


# Fields of an answer's `message` (and a chunk's `delta`) read into their own places; the
# others (refusal, annotations, audio) are passed back as they came.
_MESSAGE_FIELDS = {"role", "content", "tool_calls", "function_call"}


class Adapter(ProviderAdapter):
    chat_options = OPENAI_CHAT_OPTIONS
    message_names = True
    tool_arguments_as_objects = False  # OpenAI takes the text as the model wrote it

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if credentials.get("api_key"):
            headers["Authorization"] = f"Bearer {credentials['api_key']}"
        if credentials.get("organization"):
            headers["OpenAI-Organization"] = str(credentials["organization"])
        return headers

    def validate(
        self, credentials: dict[str, Any], *, model: str | None = None, recheck: bool = False
    ) -> Operation[str | None]:
        """The key with the model list; with `model` (a custom model), that model too.

        OpenAI (`validation: retrieve_model`) answers GET /models/{model} with 404
        model_not_found for a model the key cannot use, so a fine-tune with a typo is refused
        at save. OpenAI-compatible servers often leave models out of /models (or have no
        retrieve), so there a model missing from the list is a warning; so it is on a recheck,
        which must not fail a credential saved before this check existed."""
        if model and self.provider.validation == "retrieve_model" and not recheck:
            path = quote(model, safe=":")  # fine-tune ids are ft:base:org::id
            yield from self.get(f"{self.base_url(credentials)}/models/{path}", credentials)
            return None
        listed = yield from self.list_models(credentials)
        if not model or any(m.name == model for m in listed):
            return None
        return (
            f"{self.provider.label} does not list {model} among the models of this key. "
            "Calls to it will fail if the name is not exact."
        )

    def list_models(self, credentials: dict[str, Any]) -> Operation[list[DiscoveredModel]]:
        body = yield from self.get(f"{self.base_url(credentials)}/models", credentials)
        models = body.get("data", []) if isinstance(body, dict) else []
        return [
            DiscoveredModel(
                name=str(item["id"]),
                type=_guess_type(str(item["id"])),
                features=listed_features(item),
            )
            for item in models
            if isinstance(item, dict) and item.get("id")
        ]

    # -- model calls --------------------------------------------------------------------------
    def chat(self, credentials: dict[str, Any], request: ChatRequest) -> Operation[ChatResult]:
        body, headers = yield from self.post(
            f"{self.base_url(credentials)}/chat/completions",
            credentials,
            chat_body(request, max_tokens_field=max_tokens_name(request.model)),
        )
        return chat_result(body, headers, provider=self.provider.key)

    def chat_stream(
        self, credentials: dict[str, Any], request: ChatRequest
    ) -> Operation[OpenedStream]:
        head = yield from self.open_stream(
            f"{self.base_url(credentials)}/chat/completions",
            credentials,
            chat_body(request, stream=True, max_tokens_field=max_tokens_name(request.model)),
            headers={**self.headers(credentials), "Accept": "text/event-stream"},
        )
        return OpenedStream(
            format="sse",
            parser=ChatChunks(secrets=self.secrets(credentials), provider=self.provider.key),
            headers=head.headers,
            model=request.model,
        )

    def embed(
        self, credentials: dict[str, Any], model: str, inputs: list[str]
    ) -> Operation[EmbeddingResult]:
        body, headers = yield from self.post(
            f"{self.base_url(credentials)}/embeddings",
            credentials,
            {"model": model, "input": list(inputs)},
        )
        return embedding_result(body, headers, model=model, provider=self.provider.key)

    def moderate(
        self, credentials: dict[str, Any], model: str, inputs: list[str]
    ) -> Operation[ModerationResult]:
        body, headers = yield from self.post(
            f"{self.base_url(credentials)}/moderations",
            credentials,
            {"model": model, "input": list(inputs)},
        )
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise UpstreamError("unexpected answer (no moderation results)")
        return ModerationResult(
            results=results, model=str(body.get("model") or model), headers=headers
        )

    def generate_image(
        self,
        credentials: dict[str, Any],
        model: str,
        prompt: str,
        *,
        n: int = 1,
        size: str = "",
        response_format: str = "",
    ) -> Operation[ImageResult]:
        request: dict[str, Any] = {"model": model, "prompt": prompt, "n": n}
        if size:
            request["size"] = size
        # DALL·E answers in either form; gpt-image models only in base64 (and refuse the field).
        if model.startswith(RESPONSE_FORMAT_IMAGE_MODELS):
            request["response_format"] = response_format or "b64_json"
        body, headers = yield from self.post(
            f"{self.base_url(credentials)}/images/generations",
            credentials,
            request,
            timeout=(
                settings.PROVIDER_CONNECT_TIMEOUT,
                max(settings.PROVIDER_READ_TIMEOUT, IMAGE_READ_TIMEOUT),
            ),
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise UpstreamError("unexpected answer (no images)")
        images = []
        for item in data:
            if isinstance(item, dict) and item.get("b64_json"):
                images.append({"b64_json": str(item["b64_json"])})
            elif isinstance(item, dict) and item.get("url"):
                images.append({"url": str(item["url"])})
        return ImageResult(images=images, model=model, headers=headers)

    def transcribe(
        self,
        credentials: dict[str, Any],
        model: str,
        audio: bytes,
        *,
        filename: str = "audio.mp3",
        content_type: str = "audio/mpeg",
        language: str = "",
    ) -> Operation[TranscriptionResult]:
        # verbose_json tells the audio's length and language; the gpt-4o transcribe models take
        # only json (and report tokens instead).
        verbose = model.startswith(VERBOSE_TRANSCRIPTION_MODELS)
        fields = {"model": model, "response_format": "verbose_json" if verbose else "json"}
        if language:
            fields["language"] = language
        body, headers = yield from self.post(
            f"{self.base_url(credentials)}/audio/transcriptions",
            credentials,
            None,
            data=fields,
            files={"file": (filename, audio, content_type)},
        )
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise UpstreamError("unexpected answer (no transcription text)")
        return transcription_result(body, model=model, headers=headers)

    def speak(
        self,
        credentials: dict[str, Any],
        model: str,
        text: str,
        *,
        voice: str = "",
        audio_format: str = "mp3",
    ) -> Operation[SpeechResult]:
        expected = SPEECH_CONTENT_TYPES.get(audio_format, "application/octet-stream")
        # The answer is audio, not JSON, so this reads the body itself rather than `post()`.
        response = yield Request(
            "POST",
            f"{self.base_url(credentials)}/audio/speech",
            headers={**self.headers(credentials), "Accept": f"{expected}, application/json"},
            json={
                "model": model,
                "input": text,
                "voice": voice or DEFAULT_VOICE,
                "response_format": audio_format,
            },
        )
        if response.status >= 400:
            raise self.classify(response, secrets=self.secrets(credentials))
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        if not response.content or content_type == "application/json":
            raise UpstreamError("unexpected answer (no audio)")
        return SpeechResult(
            audio=response.content,
            content_type=content_type or expected,
            model=model,
            headers=response.headers,
        )

    def speak_stream(
        self,
        credentials: dict[str, Any],
        model: str,
        text: str,
        *,
        voice: str = "",
        audio_format: str = "mp3",
    ) -> Operation[OpenedStream]:
        expected = SPEECH_CONTENT_TYPES.get(audio_format, "application/octet-stream")
        head = yield from self.open_stream(
            f"{self.base_url(credentials)}/audio/speech",
            credentials,
            {
                "model": model,
                "input": text,
                "voice": voice or DEFAULT_VOICE,
                "response_format": audio_format,
            },
            stream="bytes",
            headers={**self.headers(credentials), "Accept": f"{expected}, application/json"},
        )
        if head.content_type == "application/json":
            raise UpstreamError("unexpected answer (JSON, not audio)")
        headers = {**head.headers, "content-type": head.content_type or expected}
        return OpenedStream("bytes", AudioParser(), headers, model)


def transcription_result(
    body: dict[str, Any], *, model: str, headers: Mapping[str, str]
) -> TranscriptionResult:
    """A transcription (json or verbose_json): the audio's length is `duration`, or the
    `usage` of a model billed by duration; a model billed by token reports tokens."""
    usage_body = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    duration = body.get("duration")
    if duration is None and usage_body.get("type") == "duration":
        duration = usage_body.get("seconds")
    try:
        seconds = float(duration) if duration is not None else None
    except (TypeError, ValueError):
        seconds = None
    if seconds is not None and not (0 <= seconds < 10**7):
        seconds = None
    tokens = None
    if usage_body.get("type") == "tokens":
        try:
            tokens = Usage(
                int(usage_body.get("input_tokens") or 0), int(usage_body.get("output_tokens") or 0)
            )
        except (TypeError, ValueError):
            tokens = None
    segments = body.get("segments")
    return TranscriptionResult(
        text=body["text"],
        model=model,
        headers=headers,
        language=str(body.get("language") or ""),
        duration=seconds,
        segments=[s for s in segments if isinstance(s, dict)] if isinstance(segments, list) else [],
        usage=tokens,
    )


# -- the OpenAI wire format (shared with Azure OpenAI) -----------------------------------------


def max_tokens_name(model: str) -> str:
    """Reasoning models refuse `max_tokens` ("Use 'max_completion_tokens' instead")."""
    name = model.lower().rsplit("/", 1)[-1]
    return "max_completion_tokens" if name.startswith(REASONING_PREFIXES) else "max_tokens"


def chat_body(
    request: ChatRequest,
    *,
    stream: bool = False,
    include_usage: bool = True,
    max_tokens_field: str = "max_tokens",
) -> dict[str, Any]:
    """A chat completion request; a stream asks for its usage in a last chunk unless the server
    would refuse `stream_options` (older Azure API versions). `max_tokens` goes under the name
    the model takes (`max_tokens_field`); `max_completion_tokens` is sent as such."""
    body: dict[str, Any] = {**request.extra}
    body["model"] = request.model
    body["messages"] = [message_json(m) for m in request.messages]
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.max_tokens is not None:
        body[max_tokens_field] = request.max_tokens
    if request.max_completion_tokens is not None:
        body["max_completion_tokens"] = request.max_completion_tokens
    if request.stop:
        body["stop"] = list(request.stop)
    if request.tools:
        body["tools"] = [tool_json(tool) for tool in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = tool_choice_json(request.tool_choice)
    if request.response_format is not None:
        body["response_format"] = response_format_json(request.response_format)
    for name in (
        "parallel_tool_calls",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "user",
        "reasoning_effort",
    ):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.logit_bias is not None:
        body["logit_bias"] = dict(request.logit_bias)
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    return body


def message_json(message: Message) -> dict[str, Any]:
    """A message in OpenAI's shape (Cohere v2 takes the same)."""
    item: dict[str, Any] = {"role": message.role}
    if isinstance(message.content, str):
        item["content"] = message.content if message.content or not message.tool_calls else None
    else:
        item["content"] = [
            {"type": "image_url", "image_url": image_url_json(part)}
            if isinstance(part, ImagePart)
            else {"type": "text", "text": part.text}
            for part in message.content
        ]
    if message.tool_calls:
        item["tool_calls"] = [tool_call_json(call) for call in message.tool_calls]
    if message.tool_call_id is not None:
        item["tool_call_id"] = message.tool_call_id
    if message.name:
        item["name"] = message.name
    return item


def image_url_json(image: ImagePart) -> dict[str, Any]:
    return {"url": image.url, **({"detail": image.detail} if image.detail else {})}


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def tool_json(tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def tool_choice_json(choice: str | NamedTool) -> Any:
    if isinstance(choice, NamedTool):
        return {"type": "function", "function": {"name": choice.name}}
    return choice


def response_format_json(response_format) -> dict[str, Any]:
    if response_format.type != "json_schema":
        return {"type": response_format.type}
    schema: dict[str, Any] = {"name": response_format.name}
    if response_format.description:
        schema["description"] = response_format.description
    if response_format.schema is not None:
        schema["schema"] = response_format.schema
    if response_format.strict is not None:
        schema["strict"] = response_format.strict
    return {"type": "json_schema", "json_schema": schema}


def chat_result(body: Any, headers: Mapping[str, str], *, provider: str) -> ChatResult:
    choices = body.get("choices") if isinstance(body, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise UpstreamError("unexpected answer (no choices)")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
    return ChatResult(
        content=str(message.get("content") or ""),
        finish_reason=choice.get("finish_reason"),
        usage=usage_of(body.get("usage"), provider=provider, absent=Usage()),
        model=str(body.get("model") or ""),
        headers=headers,
        tool_calls=tuple(
            ToolCall(
                id=str(call.get("id") or ""),
                name=str(function.get("name") or ""),
                arguments=str(function.get("arguments") or ""),
            )
            for call in calls
            if isinstance(call, dict)
            for function in [call.get("function") if isinstance(call.get("function"), dict) else {}]
        ),
        logprobs=choice.get("logprobs"),
        extra={
            name: value
            for name, value in message.items()
            if name not in _MESSAGE_FIELDS and value is not None
        },
    )


class ChatChunks(ChunkParser):
    """The chunks of an OpenAI-format event stream. Chunks carrying nothing (the role-only first
    one, Azure's content-filter notes with empty `choices`) are skipped; a stream that ends
    before `[DONE]` and without a finish reason was cut off."""

    def __init__(self, *, secrets: tuple[str, ...] = (), provider: str):
        self.secrets = secrets
        self.provider = provider
        self.finished = False

    def feed(self, event: ServerSentEvent) -> list[ChatChunk]:
        name, data = event
        if data.strip() == "[DONE]":
            self.done = True
            return []
        payload = _event_json(data)
        if name == "error" or payload.get("error"):
            raise stream_error(payload.get("error", payload), secrets=self.secrets)
        chunk = chat_chunk(payload, provider=self.provider)
        if chunk is None:
            return []
        self.finished = self.finished or chunk.finish_reason is not None
        return [chunk]

    def end(self) -> list[ChatChunk]:
        if not self.finished:
            raise UpstreamError("the stream ended before the answer was complete")
        return []


def chat_chunk(payload: dict[str, Any], *, provider: str) -> ChatChunk | None:
    choices = payload.get("choices") or []
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
    text = str(delta.get("content") or "")
    finish_reason = choice.get("finish_reason")
    usage = usage_of(payload.get("usage"), provider=provider)  # a usage chunk, or None
    calls = delta.get("tool_calls") if isinstance(delta.get("tool_calls"), list) else []
    tool_calls = tuple(
        ToolCallDelta(
            index=call["index"] if isinstance(call.get("index"), int) else 0,
            id=str(call["id"]) if call.get("id") else None,
            name=str(function["name"]) if function.get("name") else None,
            arguments=str(function.get("arguments") or ""),
        )
        for call in calls
        if isinstance(call, dict)
        for function in [call.get("function") if isinstance(call.get("function"), dict) else {}]
    )
    logprobs = choice.get("logprobs")
    extra = {
        name: value
        for name, value in delta.items()
        if name not in _MESSAGE_FIELDS and value is not None
    }
    if not (text or finish_reason is not None or usage or tool_calls or logprobs or extra):
        return None
    return ChatChunk(
        delta=text,
        finish_reason=finish_reason,
        usage=usage,
        tool_calls=tool_calls,
        logprobs=logprobs,
        extra=extra,
    )


def stream_error(error: Any, *, secrets: tuple[str, ...] = ()) -> UpstreamError:
    if isinstance(error, dict):
        error = error.get("message") or error.get("type") or error.get("code") or ""
    detail = scrub(str(error or ""), secrets=secrets)
    return UpstreamError("the stream failed" + (f": {detail}" if detail else ""))


def embedding_result(
    body: Any, headers: Mapping[str, str], *, model: str, provider: str
) -> EmbeddingResult:
    """Vectors in the order of the inputs: each item says its `index`, the list order is not
    promised."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise UpstreamError("unexpected answer (no embeddings)")
    items = sorted(
        (item for item in data if isinstance(item, dict)), key=lambda item: item.get("index", 0)
    )
    return EmbeddingResult(
        vectors=[list(item.get("embedding") or []) for item in items],
        usage=usage_of(body.get("usage"), provider=provider, absent=Usage()),
        model=str(body.get("model") or model),
        headers=headers,
    )


def usage_of(usage: Any, *, provider: str, absent: Usage | None = None) -> Usage | None:
    """An OpenAI `usage` block; `absent` when there is none (null), None (unknown) when it
    cannot be read."""
    if usage is None:
        return absent
    if not isinstance(usage, dict):
        return unreadable_usage(provider)
    counted = reported_usage(provider, usage.get("prompt_tokens"), usage.get("completion_tokens"))
    details = usage.get("completion_tokens_details")
    if counted is None or not isinstance(details, dict):
        return counted
    return with_reasoning(counted, details.get("reasoning_tokens"), provider=provider)


def _event_json(data: str) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        raise UpstreamError("unreadable stream event (not JSON)") from None
    if not isinstance(payload, dict):
        raise UpstreamError("unreadable stream event (not an object)")
    return payload


def _guess_type(name: str) -> str:
    if any(hint in name for hint in EMBEDDING_HINTS):
        return "text-embedding"
    if name.startswith(("dall-e", "gpt-image")):
        return "image"
    if name.startswith("whisper") or "transcribe" in name:
        return "speech2text"
    if name.startswith("tts") or name.endswith("-tts"):
        return "tts"
    if "moderation" in name:
        return "moderation"
    return "llm"
