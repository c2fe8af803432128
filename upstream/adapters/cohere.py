"""Cohere: `GET {base_url}/v1/models` with a Bearer key; chat with `POST /v2/chat` (streamed
with `stream: true`: server-sent events message-start, content-delta, content-end, message-end)
and embeddings with `POST /v2/embed` (float vectors, `input_type` search_document); rerank with
`POST /v2/rerank` (results of index and relevance_score, billed in search units).

v2 chat takes OpenAI's shapes for most of the chat surface: `tools` (functions with JSON-schema
parameters, `strict_tools` when a tool is strict), assistant `tool_calls` (their text as the
`tool_plan`), `tool` messages with `tool_call_id`, `image_url` content parts, and
`response_format` (json_object, with `json_schema` for a schema). `tool_choice` is REQUIRED or
NONE (auto is the default; a named function has no equivalent); `seed`, the penalties and
`max_tokens` map as they are; `reasoning_effort` is a thinking `token_budget`. Streamed, a tool
call is `tool-call-start` (index, id, name), `tool-call-delta` (argument fragments) and
`tool-call-end`, OpenAI's delta format already; `tool-plan-delta` is text. Cohere cannot turn
parallel calls off and has no logit bias or user field; its log probabilities are not mapped.

Usage is what Cohere bills (`billed_units`), or the raw `tokens` when no billed units are given.
A generation that fails after it started ends with finish_reason ERROR and an `error` text;
that raises UpstreamError, as does a stream that ends without message-end (cut off).

Errors are `{"id": ..., "message": "..."}`: 401 (no api key supplied, invalid api token,
expired key), 402 (billing limit reached or no payment method) → QuotaExhausted, 404 (model not
found), 429 (rate limit; trial keys are limited per minute) → RateLimited, 499 (request
cancelled; retrying is safe) and 500 → UpstreamError. 498 is the conventional "invalid token"
status older Cohere answers used → AuthenticationFailed. A trial key's monthly allowance
(the 429 "limited to 1000 API calls / month") does not clear by waiting a minute, so that one
429 is QuotaExhausted.

A model's `endpoints` say what it serves: chat → llm, embed → text-embedding, rerank → rerank
(`default_endpoints` first when present); models serving none of them are left out.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from ..calls import (
    CHAT_OPTIONS,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    ImagePart,
    Message,
    RankedDocument,
    RerankResult,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ..errors import (
    AuthenticationFailed,
    BadRequest,
    ProviderError,
    QuotaExhausted,
    UpstreamError,
    scrub,
)
from ..http import Response
from ..streams import ChunkParser, OpenedStream, ServerSentEvent
from .base import (
    DiscoveredModel,
    Operation,
    ProviderAdapter,
    reported_usage,
    unreadable_usage,
)
from .openai import image_url_json, tool_call_json, tool_json

PAGE_SIZE = 1000
MAX_PAGES = 20
EMBED_BATCH = 96  # the most texts one embed call takes
FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
REASONING_BUDGETS = {
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32000,
    "max": 32000,
}
ENDPOINT_TYPES = (("chat", "llm"), ("embed", "text-embedding"), ("rerank", "rerank"))
_MONTHLY = re.compile(r"/\s*month|per month|a month|monthly", re.I)


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/v1", "/v2")
    refusal_reasons = {
        "logit_bias": "v2 chat has no logit bias",
        "logprobs": "Cohere's log probabilities are not mapped onto OpenAI's",
        "top_logprobs": "Cohere's log probabilities are not mapped onto OpenAI's",
        "user": "v2 chat has no end-user field",
    }
    chat_options = CHAT_OPTIONS - refusal_reasons.keys()
    tool_choices = ("auto", "none", "required")

    def check_chat_values(self, request: ChatRequest, refuse) -> None:
        if request.parallel_tool_calls is False:
            refuse("parallel_tool_calls", "Cohere cannot be kept from calling tools in parallel")

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "Authorization": f"Bearer {credentials.get('api_key') or ''}",
        }

    def validate(
        self, credentials: dict[str, Any], *, model: str | None = None, recheck: bool = False
    ) -> Operation[str | None]:
        base = self.base_url(credentials)
        if model:
            url = f"{base}/v1/models/{quote(model, safe='')}"
            yield from self.get(url, credentials)
        else:
            yield from self.get(f"{base}/v1/models", credentials, params={"page_size": 1})

    def list_models(self, credentials: dict[str, Any]) -> Operation[list[DiscoveredModel]]:
        def next_params(body: dict, params: dict) -> dict | None:
            token = body.get("next_page_token")
            return {"page_size": PAGE_SIZE, "page_token": token} if token else None

        return (
            yield from self.paged_models(
                f"{self.base_url(credentials)}/v1/models",
                credentials,
                params={"page_size": PAGE_SIZE},
                items="models",
                parse=_discovered,
                next_params=next_params,
                max_pages=MAX_PAGES,
            )
        )

    # -- model calls --------------------------------------------------------------------------
    def chat(self, credentials: dict[str, Any], request: ChatRequest) -> Operation[ChatResult]:
        body, headers = yield from self.post(
            self.chat_url(credentials), credentials, self.body(request)
        )
        if not isinstance(body, dict):
            raise UpstreamError("unexpected answer (no message)")
        finish_reason = self.finish_reason(body, credentials)
        message = body.get("message") if isinstance(body.get("message"), dict) else {}
        content = message.get("content") or []
        calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
        text = "".join(
            str(item.get("text") or "")
            for item in content
            if isinstance(item, dict) and item.get("type") == "text"
        )
        return ChatResult(
            content=text or str(message.get("tool_plan") or ""),
            tool_calls=tuple(
                ToolCall(
                    id=str(call.get("id") or ""),
                    name=str(function.get("name") or ""),
                    arguments=str(function.get("arguments") or "{}"),
                )
                for call in calls
                if isinstance(call, dict)
                for function in [call.get("function") or {}]
                if isinstance(function, dict)
            ),
            finish_reason=finish_reason,
            usage=_usage(self.provider.key, body.get("usage")),
            model=request.model,
            headers=headers,
        )

    def chat_stream(
        self, credentials: dict[str, Any], request: ChatRequest
    ) -> Operation[OpenedStream]:
        head = yield from self.open_stream(
            self.chat_url(credentials),
            credentials,
            {**self.body(request), "stream": True},
            headers={**self.headers(credentials), "Accept": "text/event-stream"},
        )
        return OpenedStream(
            format="sse",
            parser=ChatEvents(self, credentials),
            headers=head.headers,
            model=request.model,
        )

    def embed(
        self, credentials: dict[str, Any], model: str, inputs: list[str]
    ) -> Operation[EmbeddingResult]:
        url = f"{self.base_url(credentials)}/v2/embed"
        vectors: list[list[float]] = []
        usage: Usage | None = Usage()
        headers = {}
        for start in range(0, len(inputs), EMBED_BATCH):
            batch = inputs[start : start + EMBED_BATCH]
            body, headers = yield from self.post(
                url,
                credentials,
                {
                    "model": model,
                    "texts": batch,
                    "input_type": "search_document",
                    "embedding_types": ["float"],
                },
            )
            embeddings = body.get("embeddings") if isinstance(body, dict) else None
            floats = embeddings.get("float") if isinstance(embeddings, dict) else embeddings
            if not isinstance(floats, list) or len(floats) != len(batch):
                raise UpstreamError("unexpected answer (not one embedding per input)")
            vectors += [list(vector) for vector in floats]
            billed = _usage(self.provider.key, body.get("meta"))
            usage = usage + billed if usage is not None and billed is not None else None
        return EmbeddingResult(vectors=vectors, usage=usage, model=model, headers=headers)

    def rerank(
        self,
        credentials: dict[str, Any],
        model: str,
        query: str,
        documents: list[str],
        *,
        top_n: int | None = None,
    ) -> Operation[RerankResult]:
        """`POST /v2/rerank` {model, query, documents, top_n}: `results` of {index,
        relevance_score}, most relevant first; `meta.billed_units.search_units` is what it
        cost (a search is a query with up to 100 documents)."""
        request: dict[str, Any] = {"model": model, "query": query, "documents": list(documents)}
        if top_n is not None:
            request["top_n"] = top_n
        body, headers = yield from self.post(
            f"{self.base_url(credentials)}/v2/rerank", credentials, request
        )
        return rerank_result(body, documents=len(documents), model=model, headers=headers)

    def chat_url(self, credentials: dict[str, Any]) -> str:
        return f"{self.base_url(credentials)}/v2/chat"

    def body(self, request: ChatRequest) -> dict[str, Any]:
        if not request.turns:
            raise BadRequest("a chat needs at least one user or assistant message")
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [_message_json(m) for m in request.messages],
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["p"] = request.top_p
        if request.output_limit is not None:
            body["max_tokens"] = request.output_limit
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        for name in ("seed", "presence_penalty", "frequency_penalty"):
            if getattr(request, name) is not None:
                body[name] = getattr(request, name)
        if request.tools:
            body["tools"] = [tool_json(tool) for tool in request.tools]
            if any(tool.strict for tool in request.tools):
                body["strict_tools"] = True
        if request.tool_choice in ("required", "none"):
            body["tool_choice"] = str(request.tool_choice).upper()
        response_format = request.response_format
        if response_format is not None and response_format.type != "text":
            body["response_format"] = {"type": "json_object"}
            if response_format.schema is not None:
                body["response_format"]["json_schema"] = dict(response_format.schema)
        if request.reasoning_effort == "none":
            body["thinking"] = {"type": "disabled"}
        elif request.reasoning_effort is not None:
            body["thinking"] = {
                "type": "enabled",
                "token_budget": REASONING_BUDGETS[request.reasoning_effort],
            }
        return body

    def finish_reason(self, end: dict, credentials: dict[str, Any]) -> str | None:
        """OpenAI's word for Cohere's finish reason; a generation that failed raises."""
        reason = str(end.get("finish_reason") or "")
        if reason == "ERROR":
            detail = scrub(str(end.get("error") or ""), secrets=self.secrets(credentials))
            raise UpstreamError(detail or "the generation failed")
        return FINISH_REASONS.get(reason)

    # -- errors -------------------------------------------------------------------------------
    def classify(self, response: Response, *, secrets: tuple[str, ...] = ()) -> ProviderError:
        detail = scrub(self.error_text(response), secrets=secrets)
        if response.status == 498:
            return AuthenticationFailed(detail or "invalid token")
        if response.status == 429 and _MONTHLY.search(detail):
            return QuotaExhausted(
                detail,
                hint="The trial key's monthly allowance is used up. Upgrade to a production key "
                "at dashboard.cohere.com.",
            )
        if response.status == 499:
            return UpstreamError(
                f"HTTP 499: {detail or 'request cancelled'}",
                hint="Cohere cancelled the request. Retrying is safe.",
            )
        return super().classify(response, secrets=secrets)


class ChatEvents(ChunkParser):
    """The chunks of a v2 chat event stream: content-delta text, then message-end with the
    finish reason and usage (a failed generation raises there)."""

    def __init__(self, adapter: Adapter, credentials: dict[str, Any]) -> None:
        self.adapter = adapter
        self.credentials = credentials
        self.calls = 0  # tool calls started so far

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
        message = delta.get("message") if isinstance(delta.get("message"), dict) else {}
        if kind == "content-delta":
            content = message.get("content") or {}
            if isinstance(content, dict) and content.get("text"):
                return [ChatChunk(delta=str(content["text"]))]
        elif kind == "tool-plan-delta" and message.get("tool_plan"):
            return [ChatChunk(delta=str(message["tool_plan"]))]
        elif kind in ("tool-call-start", "tool-call-delta"):
            call = message.get("tool_calls") if isinstance(message.get("tool_calls"), dict) else {}
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            index = payload.get("index")
            index = index if isinstance(index, int) else max(self.calls - 1, 0)
            if kind == "tool-call-start":
                self.calls += 1
                piece = ToolCallDelta(
                    index, str(call.get("id") or ""), str(function.get("name") or "")
                )
                chunks = [ChatChunk(tool_calls=(piece,))]
                if function.get("arguments"):
                    fragment = ToolCallDelta(index, arguments=str(function["arguments"]))
                    chunks.append(ChatChunk(tool_calls=(fragment,)))
                return chunks
            if function.get("arguments"):
                fragment = ToolCallDelta(index, arguments=str(function["arguments"]))
                return [ChatChunk(tool_calls=(fragment,))]
        elif kind == "message-end":
            self.done = True
            return [
                ChatChunk(
                    finish_reason=self.adapter.finish_reason(delta, self.credentials),
                    usage=_usage(self.adapter.provider.key, delta.get("usage")),
                )
            ]
        return []

    def end(self) -> list[ChatChunk]:
        raise UpstreamError("the stream ended before the answer was complete")


def _message_json(message: Message) -> dict[str, Any]:
    """A message in v2's shape: OpenAI's, with an assistant's text beside its tool calls as
    the `tool_plan`."""
    item: dict[str, Any] = {"role": message.role}
    if message.role == "tool":
        return {**item, "tool_call_id": message.tool_call_id, "content": message.text}
    if message.tool_calls:
        item["tool_calls"] = [tool_call_json(call) for call in message.tool_calls]
        if message.text:
            item["tool_plan"] = message.text
        return item
    if isinstance(message.content, str):
        item["content"] = message.content
    else:
        item["content"] = [
            {"type": "image_url", "image_url": image_url_json(part)}
            if isinstance(part, ImagePart)
            else {"type": "text", "text": part.text}
            for part in message.content
        ]
    return item


def _usage(provider: str, usage: Any) -> Usage | None:
    """Billed tokens (chat `usage`, embed `meta`), else the raw token counts; None (unknown)
    when they cannot be read."""
    if usage is None:
        return Usage()
    if not isinstance(usage, dict):
        return unreadable_usage(provider)
    for counts in (usage.get("billed_units"), usage.get("tokens")):
        if isinstance(counts, dict) and (counts.get("input_tokens") or counts.get("output_tokens")):
            return reported_usage(provider, counts.get("input_tokens"), counts.get("output_tokens"))
    return Usage()


def _discovered(item: Any) -> DiscoveredModel | None:
    if not isinstance(item, dict) or not item.get("name"):
        return None
    for endpoints in (item.get("default_endpoints"), item.get("endpoints")):
        served = set(endpoints or [])
        for endpoint, kind in ENDPOINT_TYPES:
            if endpoint in served:
                return DiscoveredModel(name=str(item["name"]), type=kind)
    return None


def rerank_result(body: Any, *, documents: int, model: str, headers: Any) -> RerankResult:
    """Cohere's rerank answer, checked: each result names a document that was sent, once."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise UpstreamError("unexpected answer (no rerank results)")
    ranked, seen = [], set()
    for item in results:
        index = item.get("index") if isinstance(item, dict) else None
        score = item.get("relevance_score") if isinstance(item, dict) else None
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not 0 <= index < documents
            or index in seen
            or not isinstance(score, (int, float))
            or isinstance(score, bool)
        ):
            raise UpstreamError("unexpected answer (a rerank result names no document sent)")
        seen.add(index)
        ranked.append(RankedDocument(index, float(score)))
    meta = body.get("meta")
    billed = meta.get("billed_units") if isinstance(meta, dict) else None
    units = billed.get("search_units") if isinstance(billed, dict) else None
    search_units = int(units) if isinstance(units, (int, float)) and units >= 0 else None
    return RerankResult(ranked, search_units=search_units, model=model, headers=headers)
