"""Anthropic: `GET {base_url}/v1/models` with `x-api-key` and `anthropic-version`; chat over
the Messages API (`POST {base_url}/v1/messages`), whole or streamed.

The Messages API takes the system prompt as a top-level `system` field, requires `max_tokens`
and expects the turns to alternate, so consecutive messages of one role are merged into one
message of text blocks. A streamed answer is server-sent events: `message_start` (input
tokens), `content_block_delta` (text), `message_delta` (stop reason, output tokens),
`message_stop`, `ping`; an `error` event mid-stream (overloaded_error) carries the same body as
an error status would and is classified the same way. A stream that ends without
`message_stop` was cut off, and raises UpstreamError.

Errors come as `{"type": "error", "error": {"type": "authentication_error", "message": ...}}`:
401 authentication_error, 403 permission_error, 404 not_found_error, 429 rate_limit_error (with
retry-after), 529 overloaded_error, 400 invalid_request_error. Two of them are about money, not
the request: a 400 whose message says the credit balance is too low, and a 429 whose
`error.details.error_code` is `enforced_spend_limit_reached` (the monthly spend limit; retrying
will not help). Both become QuotaExhausted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..calls import ChatChunk, ChatRequest, ChatResult, Message, Usage
from ..errors import BadRequest, ProviderError, QuotaExhausted, UpstreamError, scrub
from ..http import Response
from ..streams import ChunkParser, OpenedStream, ServerSentEvent
from .base import (
    DiscoveredModel,
    Operation,
    ProviderAdapter,
    reported_usage,
    unreadable_usage,
)

API_VERSION = "2023-06-01"
PAGE_LIMIT = 1000  # the API's maximum page size
MAX_PAGES = 20
DEFAULT_MAX_TOKENS = 1024  # the Messages API has no default of its own
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# The status each error type comes with, so an `error` event mid-stream is classified as the
# same error arriving as a status would be.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/v1",)

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "x-api-key": str(credentials.get("api_key") or ""),
            "anthropic-version": API_VERSION,
        }

    def validate(self, credentials: dict[str, Any], *, model: str | None = None) -> Operation[None]:
        base = self.base_url(credentials)
        if model:  # the model must exist for this key (aliases such as claude-sonnet-4-0 too)
            url = f"{base}/v1/models/{quote(model, safe='')}"
            yield from self.get(url, credentials)
        else:
            yield from self.get(f"{base}/v1/models", credentials, params={"limit": 1})

    def list_models(self, credentials: dict[str, Any]) -> Operation[list[DiscoveredModel]]:
        def parse(item: Any) -> DiscoveredModel | None:
            if not isinstance(item, dict) or not item.get("id"):
                return None
            label = str(item.get("display_name") or "")
            return DiscoveredModel(name=str(item["id"]), type="llm", label=label)

        def next_params(body: dict, params: dict) -> dict | None:
            last_id = body.get("last_id")
            return (
                {"limit": PAGE_LIMIT, "after_id": last_id}
                if body.get("has_more") and last_id
                else None
            )

        return (
            yield from self.paged_models(
                f"{self.base_url(credentials)}/v1/models",
                credentials,
                params={"limit": PAGE_LIMIT},
                items="data",
                parse=parse,
                next_params=next_params,
                max_pages=MAX_PAGES,
            )
        )

    # -- chat -----------------------------------------------------------------------------------
    def chat(self, credentials: dict[str, Any], request: ChatRequest) -> Operation[ChatResult]:
        body, headers = yield from self.post(
            self.messages_url(credentials), credentials, self.body(request)
        )
        if not isinstance(body, dict):
            raise UpstreamError("unexpected answer (no message)")
        return ChatResult(
            content="".join(
                str(block.get("text") or "")
                for block in body.get("content") or []
                if isinstance(block, dict) and block.get("type") == "text"
            ),
            finish_reason=FINISH_REASONS.get(str(body.get("stop_reason"))),
            usage=self.usage(body.get("usage")),
            model=str(body.get("model") or request.model),
            headers=headers,
        )

    def chat_stream(
        self, credentials: dict[str, Any], request: ChatRequest
    ) -> Operation[OpenedStream]:
        head = yield from self.open_stream(
            self.messages_url(credentials),
            credentials,
            {**self.body(request), "stream": True},
            headers={**self.headers(credentials), "Accept": "text/event-stream"},
        )
        return OpenedStream(
            format="sse",
            parser=MessageChunks(self, head.headers, credentials),
            headers=head.headers,
            model=request.model,
        )

    def messages_url(self, credentials: dict[str, Any]) -> str:
        return f"{self.base_url(credentials)}/v1/messages"

    def body(self, request: ChatRequest) -> dict[str, Any]:
        messages = _merged(request.turns)
        if not messages:
            raise BadRequest("a chat needs at least one user or assistant message")
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": messages,
        }
        if request.system:
            body["system"] = request.system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        return body

    def usage(self, usage: Any) -> Usage | None:
        """A `usage` block (none: nothing counted); None when it cannot be read."""
        if usage is None:
            return Usage()
        if not isinstance(usage, dict):
            return unreadable_usage(self.provider.key)
        return reported_usage(
            self.provider.key, usage.get("input_tokens"), usage.get("output_tokens")
        )

    # -- errors -------------------------------------------------------------------------------
    def classify(self, response: Response, *, secrets: tuple[str, ...] = ()) -> ProviderError:
        kind = self.error_kind(response)
        detail = scrub(self.error_text(response), secrets=secrets)
        if response.status == 400 and "credit balance" in detail.lower():
            return QuotaExhausted(detail, hint="Buy credits under Plans & Billing in the Console.")
        if response.status == 429 and _error_code(response) == "enforced_spend_limit_reached":
            return QuotaExhausted(
                detail,
                hint="The organization reached its monthly spend limit; it resets next month or "
                "with a higher usage tier.",
            )
        if response.status == 529 or kind == "overloaded_error":
            return UpstreamError(
                f"HTTP {response.status}: {detail or 'overloaded'}",
                hint="Anthropic is overloaded for everyone right now, not just this key. "
                "Try again shortly.",
            )
        return super().classify(response, secrets=secrets)


class MessageChunks(ChunkParser):
    """The chunks of a Messages API event stream (see the module's docstring)."""

    def __init__(
        self, adapter: Adapter, headers: Mapping[str, str], credentials: dict[str, Any]
    ) -> None:
        self.adapter = adapter
        self.headers = headers
        self.credentials = credentials
        self.input_tokens = 0
        self.known = True  # every usage block so far was readable

    def feed(self, event: ServerSentEvent) -> list[ChatChunk]:
        name, data = event
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):
            raise UpstreamError(f"unreadable stream event ({name})") from None
        if not isinstance(payload, dict):
            return []
        kind = payload.get("type") or name
        delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
        if kind == "message_start":
            message = payload.get("message")
            start = self.adapter.usage(message.get("usage") if isinstance(message, dict) else None)
            self.known = self.known and start is not None
            self.input_tokens = start.prompt_tokens if start else self.input_tokens
        elif kind == "content_block_delta":
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [ChatChunk(delta=str(delta["text"]))]
        elif kind == "message_delta":
            end = self.adapter.usage(payload.get("usage"))
            self.known = self.known and end is not None
            # Newer answers repeat the (cumulative) input tokens here.
            self.input_tokens = (end.prompt_tokens if end else 0) or self.input_tokens
            return [
                ChatChunk(
                    finish_reason=FINISH_REASONS.get(str(delta.get("stop_reason"))),
                    usage=Usage(self.input_tokens, end.completion_tokens)
                    if self.known and end
                    else None,
                )
            ]
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            raise self.error(payload)
        return []

    def end(self) -> list[ChatChunk]:
        raise UpstreamError("the stream ended before the answer was complete")

    def error(self, payload: dict) -> ProviderError:
        """An `error` event, classified as the same error arriving as its status would be."""
        error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
        answer = Response(
            status=ERROR_STATUS.get(str(error.get("type")), 500),
            headers=self.headers,
            content=json.dumps(payload).encode(),
            url="",
        )
        return self.adapter.classify(answer, secrets=self.adapter.secrets(self.credentials))


def _error_code(response: Response) -> str:
    try:
        body = response.json()
    except ProviderError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return str(details.get("error_code") or "") if isinstance(details, dict) else ""


def _merged(turns: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Messages for the API: one per run of same-role turns, several turns as text blocks."""
    runs: list[tuple[str, list[str]]] = []
    for message in turns:
        if runs and runs[-1][0] == message.role:
            runs[-1][1].append(message.content)
        else:
            runs.append((message.role, [message.content]))
    return [
        {
            "role": role,
            "content": texts[0]
            if len(texts) == 1
            else [{"type": "text", "text": text} for text in texts],
        }
        for role, texts in runs
    ]
