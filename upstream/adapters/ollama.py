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
"""

from __future__ import annotations

import json
from typing import Any

from ..calls import ChatChunk, ChatRequest, ChatResult, EmbeddingResult, Usage
from ..errors import ModelNotAvailable, UpstreamError, scrub
from ..streams import ChunkParser, OpenedStream
from .base import DiscoveredModel, Operation, ProviderAdapter, reported_usage

EMBEDDING_FAMILIES = {"bert", "nomic-bert"}


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/api", "/v1")

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if credentials.get("api_key"):
            headers["Authorization"] = f"Bearer {credentials['api_key']}"
        return headers

    def validate(self, credentials: dict[str, Any], *, model: str | None = None) -> Operation[None]:
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

    def list_models(self, credentials: dict[str, Any]) -> Operation[list[DiscoveredModel]]:
        models = []
        for item in (yield from self._tags(credentials)):
            name = str(item.get("name") or item.get("model") or "")
            if name:
                models.append(DiscoveredModel(name=name, type=_guess_type(item)))
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
        return ChatResult(
            content=str(body["message"].get("content") or ""),
            finish_reason=_finish_reason(body),
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
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if request.stop:
            options["stop"] = list(request.stop)
        if credentials.get("context_size"):
            options["num_ctx"] = int(credentials["context_size"])
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": stream,
        }
        if options:
            body["options"] = options
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
        if item.get("done"):
            self.done = True
            return [
                ChatChunk(
                    delta=text,
                    finish_reason=_finish_reason(item),
                    usage=_usage(self.provider, item),
                )
            ]
        return [ChatChunk(delta=text)] if text else []

    def end(self) -> list[ChatChunk]:
        raise UpstreamError("the stream ended before the answer was complete")


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


def _guess_type(item: dict) -> str:
    details = item.get("details") if isinstance(item.get("details"), dict) else {}
    name = str(item.get("name") or "").lower()
    if "embed" in name or str(details.get("family") or "").lower() in EMBEDDING_FAMILIES:
        return "text-embedding"
    return "llm"
