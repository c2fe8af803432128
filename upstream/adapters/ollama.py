"""Ollama: `GET {base_url}/api/tags` lists the models pulled on the server.

Ollama needs no key; when one is set (an Ollama behind an authenticating proxy) it is sent as a
Bearer token. Errors are `{"error": "..."}` (plain text "404 page not found" for unknown paths).
A custom model is valid only if the server has pulled it: "llama3.2" matches
"llama3.2:latest", as in Ollama itself; otherwise ModelNotAvailable says to `ollama pull` it.

Chat is `POST /api/chat` (sampling settings under `options`, `num_predict` for max tokens, the
custom model's context size as `num_ctx`); streamed, it answers NDJSON, one JSON object a line,
the last with `done: true`, its `done_reason` and the token counts (`prompt_eval_count`,
`eval_count`); an `{"error": "..."}` line is a fault mid-stream. Embeddings are
`POST /api/embed` with a list `input`.

Tools are `/api/chat`'s own: `tools` (OpenAI's function shape), an assistant's `tool_calls`
with their arguments as objects, and `tool` messages (named by `tool_name`). Ollama gives its
calls no id, so one is made up; it sends each call whole, which goes on as OpenAI's deltas (id
and name, then the arguments). `response_format` is `format` ("json", or the schema itself);
images are base64 `images` on the message (a remote image is fetched first:
`needs_image_bytes`); `reasoning_effort` is `think`; `seed` and the penalties go under
`options`. Ollama has no tool_choice beyond auto, cannot turn parallel calls off, and has no
logit bias, log probabilities or user field: those are refused, never dropped.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any

from ..calls import (
    CHAT_OPTIONS,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    Message,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ..errors import ModelNotAvailable, UpstreamError, scrub
from ..http import Request
from ..schema import MODEL_FEATURES
from ..streams import ChunkParser, OpenedStream
from .base import DiscoveredModel, Operation, ProviderAdapter, reported_usage, tool_arguments
from .openai import tool_json

EMBEDDING_FAMILIES = {"bert", "nomic-bert"}
THINK_LEVELS: dict[str, str | bool] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/api", "/v1")
    refusal_reasons = {
        "logit_bias": "/api/chat has no logit bias",
        "logprobs": "/api/chat's log probabilities are not mapped onto OpenAI's",
        "top_logprobs": "/api/chat's log probabilities are not mapped onto OpenAI's",
        "user": "/api/chat has no end-user field",
    }
    chat_options = CHAT_OPTIONS - refusal_reasons.keys()
    tool_choices = ("auto",)
    needs_image_bytes = True

    def check_chat_values(self, request: ChatRequest, refuse) -> None:
        if request.parallel_tool_calls is False:
            refuse("parallel_tool_calls", "Ollama cannot be kept from calling tools in parallel")

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if credentials.get("api_key"):
            headers["Authorization"] = f"Bearer {credentials['api_key']}"
        return headers

    def validate(
        self, credentials: dict[str, Any], *, model: str | None = None, recheck: bool = False
    ) -> Operation[str | None]:
        tags = yield from self._tags(credentials)
        if not model:
            return
        wanted = _canonical(model)
        names = {_canonical(str(item.get(k) or "")) for item in tags for k in ("name", "model")}
        if wanted not in names:
            raise ModelNotAvailable(
                f"{model} is not pulled on this Ollama server",
                hint=f"Run `ollama pull {model}` on the server, then validate again.",
            )

    def model_key(self, name: str) -> str:
        return _canonical(name)

    def list_models(self, credentials: dict[str, Any]) -> Operation[list[DiscoveredModel]]:
        """/api/tags, then /api/show for each chat model (up to SHOW_LIMIT): its
        `capabilities` are what the model can do. A server too old to report them, or a show
        that fails, leaves that model's features unknown; the listing still succeeds."""
        models = []
        for item in (yield from self._tags(credentials)):
            name = str(item.get("name") or item.get("model") or "")
            if name:
                models.append(DiscoveredModel(name=name, type=_guess_type(item)))
        shown = 0
        for index, model in enumerate(models):
            if model.type != "llm" or shown >= SHOW_LIMIT:
                continue
            shown += 1
            response = yield Request(
                "POST",
                f"{self.base_url(credentials)}/api/show",
                headers=self.headers(credentials),
                json={"model": model.name},
            )
            if response.status >= 400:
                continue
            try:
                body = response.json()
            except ValueError:
                continue
            features = features_from_capabilities(body.get("capabilities"))
            if features is not None:
                models[index] = replace(model, features=features)
        return models

    # -- model calls --------------------------------------------------------------------------
    def chat(self, credentials: dict[str, Any], request: ChatRequest) -> Operation[ChatResult]:
        body, headers = yield from self.post(
            f"{self.base_url(credentials)}/api/chat",
            credentials,
            self._chat_body(credentials, request, stream=False),
        )
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            raise UpstreamError("unexpected answer (no message)")
        calls = _calls(body["message"])
        return ChatResult(
            content=str(body["message"].get("content") or ""),
            tool_calls=calls,
            finish_reason="tool_calls" if calls else _finish_reason(body),
            usage=_usage(self.provider.key, body),
            model=str(body.get("model") or request.model),
            headers=headers,
        )

    def chat_stream(
        self, credentials: dict[str, Any], request: ChatRequest
    ) -> Operation[OpenedStream]:
        head = yield from self.open_stream(
            f"{self.base_url(credentials)}/api/chat",
            credentials,
            self._chat_body(credentials, request, stream=True),
            stream="ndjson",
            headers={**self.headers(credentials), "Accept": "application/x-ndjson"},
        )
        return OpenedStream(
            format="ndjson",
            parser=ChatLines(secrets=self.secrets(credentials), provider=self.provider.key),
            headers=head.headers,
            model=request.model,
        )

    def embed(
        self, credentials: dict[str, Any], model: str, inputs: list[str]
    ) -> Operation[EmbeddingResult]:
        body, headers = yield from self.post(
            f"{self.base_url(credentials)}/api/embed",
            credentials,
            {"model": model, "input": list(inputs)},
        )
        vectors = body.get("embeddings") if isinstance(body, dict) else None
        if not isinstance(vectors, list):
            raise UpstreamError("unexpected answer (no embeddings)")
        return EmbeddingResult(
            vectors=[list(vector) for vector in vectors],
            usage=reported_usage(self.provider.key, body.get("prompt_eval_count")),
            model=str(body.get("model") or model),
            headers=headers,
        )

    def _chat_body(
        self, credentials: dict[str, Any], request: ChatRequest, *, stream: bool
    ) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.top_p is not None:
            options["top_p"] = request.top_p
        if request.output_limit is not None:
            options["num_predict"] = request.output_limit
        if request.stop:
            options["stop"] = list(request.stop)
        for name in ("seed", "presence_penalty", "frequency_penalty"):
            if getattr(request, name) is not None:
                options[name] = getattr(request, name)
        if credentials.get("context_size"):
            options["num_ctx"] = int(credentials["context_size"])
        names = {call.id: call.name for m in request.messages for call in m.tool_calls}
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [_message_json(m, names) for m in request.messages],
            "stream": stream,
        }
        if options:
            body["options"] = options
        if request.tools:
            body["tools"] = [tool_json(tool) for tool in request.tools]
        response_format = request.response_format
        if response_format is not None and response_format.type != "text":
            body["format"] = (
                dict(response_format.schema) if response_format.schema is not None else "json"
            )
        if request.reasoning_effort is not None:
            body["think"] = THINK_LEVELS[request.reasoning_effort]
        return body

    def _tags(self, credentials: dict[str, Any]) -> Operation[list[dict]]:
        body = yield from self.get(f"{self.base_url(credentials)}/api/tags", credentials)
        if not isinstance(body, dict):
            raise UpstreamError("unexpected answer (no model list); is this an Ollama server?")
        return [item for item in body.get("models") or [] if isinstance(item, dict)]


class ChatLines(ChunkParser):
    """The chunks of a streamed /api/chat: one JSON object a line, the last with `done`."""

    def __init__(self, *, secrets: tuple[str, ...] = (), provider: str):
        self.secrets = secrets
        self.provider = provider
        self.calls = 0  # tool calls sent so far

    def feed(self, line: str) -> list[ChatChunk]:
        if not line.strip():
            return []
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            raise UpstreamError("unreadable stream line (not JSON)") from None
        if not isinstance(item, dict):
            raise UpstreamError("unreadable stream line (not an object)")
        if item.get("error"):
            detail = scrub(str(item["error"]), secrets=self.secrets)
            raise UpstreamError(f"the stream failed: {detail}")
        message = item.get("message") if isinstance(item.get("message"), dict) else {}
        text = str(message.get("content") or "")
        chunks = []
        for call in _calls(message):  # each call comes whole: OpenAI's deltas of it
            chunks.append(ChatChunk(tool_calls=(ToolCallDelta(self.calls, call.id, call.name),)))
            chunks.append(
                ChatChunk(tool_calls=(ToolCallDelta(self.calls, arguments=call.arguments),))
            )
            self.calls += 1
        if item.get("done"):
            self.done = True
            reason = _finish_reason(item)
            return [
                *chunks,
                ChatChunk(
                    delta=text,
                    finish_reason="tool_calls" if self.calls and reason == "stop" else reason,
                    usage=_usage(self.provider, item),
                ),
            ]
        return ([ChatChunk(delta=text)] if text else []) + chunks

    def end(self) -> list[ChatChunk]:
        raise UpstreamError("the stream ended before the answer was complete")


def _message_json(message: Message, names: dict[str, str]) -> dict[str, Any]:
    """A message in /api/chat's shape: text, base64 `images` (data URLs by now), an
    assistant's `tool_calls` with object arguments, a tool result named by `tool_name`."""
    item: dict[str, Any] = {"role": message.role, "content": message.text}
    if message.images:
        item["images"] = [image.data for image in message.images]
    if message.tool_calls:
        item["tool_calls"] = [
            {"function": {"name": call.name, "arguments": tool_arguments(call.arguments)}}
            for call in message.tool_calls
        ]
    if message.role == "tool":
        item["tool_name"] = names.get(message.tool_call_id or "", "")
    return item


def _calls(message: dict) -> tuple[ToolCall, ...]:
    calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
    found = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and function.get("name"):
            arguments = function.get("arguments")
            found.append(
                ToolCall(
                    id=str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}"),
                    name=str(function["name"]),
                    arguments=arguments
                    if isinstance(arguments, str)
                    else json.dumps(arguments or {}),
                )
            )
    return tuple(found)


def _finish_reason(body: dict) -> str | None:
    """Ollama's `done_reason` in OpenAI's words: "stop" and "length" are the same; a model
    (un)loading answer ("load", "unload") produced no text and has none; servers older than
    `done_reason` only say `done`."""
    reason = body.get("done_reason")
    if reason is None and body.get("done"):
        return "stop"
    return reason if reason in ("stop", "length") else None


def _usage(provider: str, body: dict) -> Usage | None:
    """The counts of a final answer; None (unknown) when they cannot be read."""
    return reported_usage(provider, body.get("prompt_eval_count"), body.get("eval_count"))


def _canonical(name: str) -> str:
    """Ollama's default tag is "latest": "llama3.2" and "llama3.2:latest" are one model."""
    name = name.strip().lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


SHOW_LIMIT = 50  # /api/show requests one refresh makes (one per chat model)
# Ollama's /api/show `capabilities` → the catalog's features. Every chat model streams and
# takes `format` (a grammar the server enforces, so JSON and a schema hold for any model).
_CAPABILITY_FEATURES = {"vision": "vision", "tools": "tool-call", "thinking": "reasoning"}
_COMPLETION_FEATURES = ("json-mode", "structured-output", "streaming")


def features_from_capabilities(capabilities) -> tuple[str, ...] | None:
    """The features of a model whose /api/show says `capabilities` (None: not said)."""
    if not isinstance(capabilities, list):
        return None
    found = {_CAPABILITY_FEATURES[c] for c in capabilities if c in _CAPABILITY_FEATURES}
    if "completion" in capabilities:
        found.update(_COMPLETION_FEATURES)
    return tuple(f for f in MODEL_FEATURES if f in found)


def _guess_type(item: dict) -> str:
    details = item.get("details") if isinstance(item.get("details"), dict) else {}
    name = str(item.get("name") or "").lower()
    if "embed" in name or str(details.get("family") or "").lower() in EMBEDDING_FAMILIES:
        return "text-embedding"
    return "llm"
