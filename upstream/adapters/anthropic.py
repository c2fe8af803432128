"""Anthropic: `GET {base_url}/v1/models` with `x-api-key` and `anthropic-version`; chat over
the Messages API (`POST {base_url}/v1/messages`), whole or streamed.

The Messages API takes the system prompt as a top-level `system` field, requires `max_tokens`
and expects the turns to alternate, so consecutive messages of one role are merged into one
message of text blocks. A streamed answer is server-sent events: `message_start` (input
tokens), `content_block_delta` (text), `message_delta` (stop reason, output tokens),
`message_stop`, `ping`; an `error` event mid-stream (overloaded_error) carries the same body as
an error status would and is classified the same way. A stream that ends without
`message_stop` was cut off, and raises UpstreamError.

Tools map onto the Messages API's own: `tools` with an `input_schema`, `tool_choice` (auto, any
for OpenAI's required, a named tool, none; `disable_parallel_tool_use` for
`parallel_tool_calls: false`), an assistant's calls as `tool_use` blocks and each tool message
as a `tool_result` block in the user turn that follows. Streamed, a `tool_use` block opens with
its id and name (`content_block_start`) and its input arrives as `input_json_delta` fragments,
which become OpenAI's tool-call deltas. `response_format` is a forced tool whose input schema
is the schema; its input comes back as the message's content (finish reason stop). Images are
`image` blocks (base64 for a data URL, `url` for a remote one); `reasoning_effort` turns on
extended thinking with a token budget (`REASONING_BUDGETS`) on top of the answer's
`max_tokens`. Thinking blocks are not answer text. The API has no seed, penalties, logit bias
or log probabilities, so those are refused (`check_chat`), never dropped.

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

from ..calls import (
    CHAT_OPTIONS,
    ChatChunk,
    ChatRequest,
    ChatResult,
    ImagePart,
    Message,
    NamedTool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ..errors import BadRequest, ProviderError, QuotaExhausted, UpstreamError, scrub
from ..http import Response
from ..streams import ChunkParser, OpenedStream, ServerSentEvent
from .base import (
    DiscoveredModel,
    Operation,
    ProviderAdapter,
    reported_usage,
    tool_arguments,
    unreadable_usage,
)

API_VERSION = "2023-06-01"
PAGE_LIMIT = 1000  # the API's maximum page size
MAX_PAGES = 20
DEFAULT_MAX_TOKENS = 1024  # the Messages API has no default of its own
# Thinking tokens for each `reasoning_effort` (the API's minimum budget is 1024; "none" leaves
# thinking off, the API's default).
REASONING_BUDGETS = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
    "xhigh": 30000,
    "max": 30000,
}
TOOL_CHOICES = {"auto": "auto", "required": "any", "none": "none"}
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
    refusal_reasons = {
        "seed": "the Messages API has no seed",
        "presence_penalty": "the Messages API has no presence penalty",
        "frequency_penalty": "the Messages API has no frequency penalty",
        "logit_bias": "the Messages API has no logit bias",
        "logprobs": "the Messages API returns no log probabilities",
        "top_logprobs": "the Messages API returns no log probabilities",
    }
    chat_options = CHAT_OPTIONS - refusal_reasons.keys()
    # A schema is sent as a forced tool: any model that calls tools can answer one.
    response_format_features = {"json_object": "tool-call", "json_schema": "tool-call"}

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "x-api-key": str(credentials.get("api_key") or ""),
            "anthropic-version": API_VERSION,
        }

    def validate(
        self, credentials: dict[str, Any], *, model: str | None = None, recheck: bool = False
    ) -> Operation[str | None]:
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
        schema_tool = _schema_tool_name(request)
        texts, calls = [], []
        for block in body.get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                texts.append(str(block.get("text") or ""))
            elif block.get("type") == "tool_use":
                arguments = json.dumps(block.get("input") or {})
                if schema_tool and block.get("name") == schema_tool:
                    texts.append(arguments)  # the structured answer is the message's content
                else:
                    calls.append(
                        ToolCall(str(block.get("id") or ""), str(block.get("name")), arguments)
                    )
        finish_reason = FINISH_REASONS.get(str(body.get("stop_reason")))
        if schema_tool and not calls and finish_reason == "tool_calls":
            finish_reason = "stop"
        return ChatResult(
            content="".join(texts),
            finish_reason=finish_reason,
            usage=self.usage(body.get("usage")),
            model=str(body.get("model") or request.model),
            headers=headers,
            tool_calls=tuple(calls),
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
            parser=MessageChunks(self, head.headers, credentials, _schema_tool_name(request)),
            headers=head.headers,
            model=request.model,
        )

    def messages_url(self, credentials: dict[str, Any]) -> str:
        return f"{self.base_url(credentials)}/v1/messages"

    def check_chat_values(self, request: ChatRequest, refuse) -> None:
        forced = request.response_format is not None and request.response_format.type != "text"
        if forced and request.tools:
            refuse(
                "response_format",
                "with tools: Anthropic answers a schema through a forced tool, which would "
                "keep the model from calling the others",
            )
        forced = forced or request.tool_choice == "required"
        forced = forced or isinstance(request.tool_choice, NamedTool)
        if request.reasoning_effort not in (None, "none"):
            if forced:
                refuse(
                    "reasoning_effort",
                    "extended thinking cannot be combined with a forced tool (tool_choice "
                    "required or a named function, or a response_format)",
                )
            if request.temperature is not None:
                refuse("temperature", "extended thinking takes no temperature")

    def body(self, request: ChatRequest) -> dict[str, Any]:
        messages = _merged(request.turns)
        if not messages:
            raise BadRequest("a chat needs at least one user or assistant message")
        limit = request.output_limit or DEFAULT_MAX_TOKENS
        body: dict[str, Any] = {"model": request.model, "max_tokens": limit, "messages": messages}
        if request.system:
            body["system"] = request.system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        tools = [
            {
                "name": tool.name,
                **({"description": tool.description} if tool.description else {}),
                "input_schema": dict(tool.parameters or {"type": "object", "properties": {}}),
            }
            for tool in request.tools
        ]
        choice: dict[str, Any] | None = None
        if isinstance(request.tool_choice, NamedTool):
            choice = {"type": "tool", "name": request.tool_choice.name}
        elif request.tool_choice is not None:
            choice = {"type": TOOL_CHOICES[request.tool_choice]}
        schema_tool = _schema_tool_name(request)
        if schema_tool:
            response_format = request.response_format
            schema = response_format.schema if response_format.type == "json_schema" else None
            tools.append(
                {
                    "name": schema_tool,
                    "description": response_format.description
                    or "Answer with this tool: its input is the answer.",
                    "input_schema": dict(schema or {"type": "object"}),
                }
            )
            choice = {"type": "tool", "name": schema_tool}
        if request.parallel_tool_calls is False and (choice or {}).get("type") != "none":
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if tools:
            body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
        if request.user is not None:
            body["metadata"] = {"user_id": request.user}
        if request.reasoning_effort not in (None, "none"):
            budget = REASONING_BUDGETS[request.reasoning_effort]
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
            body["max_tokens"] = budget + limit  # the budget is spent out of max_tokens
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
        self,
        adapter: Adapter,
        headers: Mapping[str, str],
        credentials: dict[str, Any],
        schema_tool: str | None = None,
    ) -> None:
        self.adapter = adapter
        self.headers = headers
        self.credentials = credentials
        self.input_tokens = 0
        self.known = True  # every usage block so far was readable
        self.schema_tool = schema_tool  # a forced tool whose input is the answer's text
        self.tools: dict[int, int | None] = {}  # content block → tool call (None: the answer)

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
        elif kind == "content_block_start":
            block = payload.get("content_block")
            if isinstance(block, dict) and block.get("type") == "tool_use":
                if self.schema_tool and block.get("name") == self.schema_tool:
                    self.tools[payload.get("index")] = None
                    return []
                number = len([n for n in self.tools.values() if n is not None])
                self.tools[payload.get("index")] = number
                call = ToolCallDelta(number, str(block.get("id") or ""), str(block.get("name")))
                return [ChatChunk(tool_calls=(call,))]
        elif kind == "content_block_delta":
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [ChatChunk(delta=str(delta["text"]))]
            if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                fragment = str(delta["partial_json"])
                number = self.tools.get(payload.get("index"))
                if number is None:  # the forced answer tool: its input is the text
                    return [ChatChunk(delta=fragment)]
                return [ChatChunk(tool_calls=(ToolCallDelta(number, arguments=fragment),))]
        elif kind == "message_delta":
            end = self.adapter.usage(payload.get("usage"))
            self.known = self.known and end is not None
            # Newer answers repeat the (cumulative) input tokens here.
            self.input_tokens = (end.prompt_tokens if end else 0) or self.input_tokens
            reason = FINISH_REASONS.get(str(delta.get("stop_reason")))
            if self.schema_tool and reason == "tool_calls" and None in self.tools.values():
                reason = "stop"
            return [
                ChatChunk(
                    finish_reason=reason,
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


def _schema_tool_name(request: ChatRequest) -> str | None:
    """The forced tool that carries a `response_format` answer, if the request asks for one."""
    response_format = request.response_format
    if response_format is None or response_format.type == "text":
        return None
    return response_format.name if response_format.type == "json_schema" else "json_object"


def _blocks(message: Message) -> list[dict[str, Any]]:
    """A turn as Messages API content blocks."""
    if message.role == "tool":
        return [
            {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.text}
        ]
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, ImagePart):
            source = (
                {"type": "base64", "media_type": part.media_type, "data": part.data}
                if part.is_data
                else {"type": "url", "url": part.url}
            )
            blocks.append({"type": "image", "source": source})
        elif part.text:
            blocks.append({"type": "text", "text": part.text})
    for call in message.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": tool_arguments(call.arguments),
            }
        )
    return blocks or [{"type": "text", "text": ""}]


def _merged(turns: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Messages for the API: one per run of same-role turns (a tool result is the user's),
    a lone text as a string, anything else as content blocks."""
    runs: list[tuple[str, list[dict[str, Any]]]] = []
    for message in turns:
        role = "user" if message.role == "tool" else message.role
        if runs and runs[-1][0] == role:
            runs[-1][1].extend(_blocks(message))
        else:
            runs.append((role, _blocks(message)))
    return [
        {
            "role": role,
            "content": blocks[0]["text"]
            if len(blocks) == 1 and blocks[0]["type"] == "text"
            else blocks,
        }
        for role, blocks in runs
    ]
