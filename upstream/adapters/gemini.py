"""Google Gemini (AI Studio keys): `GET {base_url}/v1beta/models` with `x-goog-api-key`; chat
with `models/{model}:generateContent` (streamed: `:streamGenerateContent?alt=sse`, each event a
whole GenerateContentResponse, usage on the last) and embeddings with `:batchEmbedContents`.

Chat turns become `contents` with the roles `user` and `model` (consecutive turns of one role
as one content of several parts), the system prompt `systemInstruction`. Thought parts (when a
model shows its thinking) are not answer text, but their tokens are billed as output and are
counted so. A stream whose last event has no finish reason was cut off and raises
UpstreamError; an error object in the stream is classified like an error status. Embeddings
report no token usage.

Tools are `functionDeclarations` (their JSON schemas turned into Gemini's OpenAPI subset by
`gemini_schema`), `toolConfig.functionCallingConfig` (AUTO, NONE, ANY; a named function is ANY
with `allowedFunctionNames`), an assistant's calls `functionCall` parts and each tool message
a `functionResponse` part (named after the call it answers). Gemini gives its calls no id
when it has none to give, so one is made up (`call_...`); a stream carries each call whole, and
it is sent on as OpenAI's deltas (id and name, then the arguments). `response_format` is
`responseMimeType` application/json with `responseSchema`; images are `inline_data` (a remote
image is fetched first: `needs_image_bytes`); `reasoning_effort` is a `thinkingConfig` budget.
Gemini cannot turn parallel calls off and has no logit bias or user field; log probabilities
are not mapped. Those are refused, never dropped.

The key travels in the header, never in `?key=`, so it cannot land in URLs, logs or
redirect targets.

Errors are Google API errors: `{"error": {"code": 400, "message": ..., "status":
"INVALID_ARGUMENT", "details": [{"@type": ".../google.rpc.ErrorInfo", "reason":
"API_KEY_INVALID"}, ...]}}`. The machine word is `status` (and the ErrorInfo `reason`), not
`code`, which only repeats the HTTP status. A bad key is a 400 INVALID_ARGUMENT with an
API_KEY_* reason; a blocked key or project a 403 PERMISSION_DENIED.

A 429 RESOURCE_EXHAUSTED always says "You exceeded your current quota", per-minute limit or
not, so the message decides nothing. The google.rpc.QuotaFailure detail does: a violated
per-day quota (quotaId ...PerDay...) does not clear by waiting a moment and is QuotaExhausted;
anything else (requests or tokens per minute) is RateLimited, with the delay from Retry-After
or google.rpc.RetryInfo `retryDelay` ("7s").
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
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
    NamedTool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ..errors import (
    AuthenticationFailed,
    BadRequest,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    UpstreamError,
    scrub,
)
from ..http import Response
from ..streams import ChunkParser, OpenedStream, ServerSentEvent
from .base import (
    MAX_RETRY_AFTER,
    DiscoveredModel,
    Operation,
    ProviderAdapter,
    reported_usage,
    retry_after,
    tool_arguments,
    unreadable_usage,
    with_reasoning,
)

PAGE_SIZE = 1000  # the API's maximum page size
MAX_PAGES = 20
EMBED_METHODS = {"embedContent", "batchEmbedContents", "asyncBatchEmbedContent", "embedText"}
CHAT_METHODS = {"generateContent", "streamGenerateContent"}
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_AUTH_REASONS = ("API_KEY_", "CONSUMER_SUSPENDED", "SERVICE_DISABLED", "ACCESS_TOKEN_")
EMBED_BATCH = 100  # the most requests one batchEmbedContents call takes
ROLES = {"user": "user", "assistant": "model", "tool": "user"}
TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
# Thinking tokens for each `reasoning_effort` (within every 2.5 model's range; "none" is 0, no
# thinking, which 2.5 Pro refuses with its own 400).
REASONING_BUDGETS = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 24576,
    "max": 24576,
}
# What Gemini's Schema object takes (the OpenAPI 3.0 subset); other keys are left out.
SCHEMA_KEYS = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
}
MAX_SCHEMA_DEPTH = 32
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


class SchemaNotMappable(ValueError):
    """A JSON schema Gemini's Schema object cannot say (a recursive $ref, a foreign $ref)."""


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/v1beta", "/v1")
    refusal_reasons = {
        "logit_bias": "generateContent has no logit bias",
        "logprobs": "Gemini's log probabilities are not mapped onto OpenAI's",
        "top_logprobs": "Gemini's log probabilities are not mapped onto OpenAI's",
        "user": "generateContent has no end-user field",
    }
    chat_options = CHAT_OPTIONS - refusal_reasons.keys()
    needs_image_bytes = True

    def check_chat_values(self, request: ChatRequest, refuse) -> None:
        if request.parallel_tool_calls is False:
            refuse("parallel_tool_calls", "Gemini cannot be kept from calling tools in parallel")
        try:
            for tool in request.tools:
                gemini_schema(tool.parameters or {})
            if request.response_format and request.response_format.schema is not None:
                gemini_schema(request.response_format.schema)
        except SchemaNotMappable as exc:
            refuse("tools" if request.tools else "response_format", str(exc))

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "x-goog-api-key": str(credentials.get("api_key") or ""),
        }

    def validate(
        self, credentials: dict[str, Any], *, model: str | None = None, recheck: bool = False
    ) -> Operation[str | None]:
        base = self.base_url(credentials)
        if model:
            resource = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
            url = f"{base}/v1beta/{quote(resource, safe='/')}"
            yield from self.get(url, credentials)
        else:
            yield from self.get(f"{base}/v1beta/models", credentials, params={"pageSize": 1})

    def list_models(self, credentials: dict[str, Any]) -> Operation[list[DiscoveredModel]]:
        def next_params(body: dict, params: dict) -> dict | None:
            token = body.get("nextPageToken")
            return {"pageSize": PAGE_SIZE, "pageToken": token} if token else None

        return (
            yield from self.paged_models(
                f"{self.base_url(credentials)}/v1beta/models",
                credentials,
                params={"pageSize": PAGE_SIZE},
                items="models",
                parse=_discovered,
                next_params=next_params,
                max_pages=MAX_PAGES,
            )
        )

    # -- model calls --------------------------------------------------------------------------
    def chat(self, credentials: dict[str, Any], request: ChatRequest) -> Operation[ChatResult]:
        body, headers = yield from self.post(
            self.model_url(credentials, request.model, "generateContent"),
            credentials,
            self.body(request),
        )
        if not isinstance(body, dict):
            raise UpstreamError("unexpected answer (no candidates)")
        text, finish_reason = _answer(body)
        calls = tuple(_calls(body))
        return ChatResult(
            content=text,
            finish_reason="tool_calls" if calls and finish_reason == "stop" else finish_reason,
            usage=_usage(self.provider.key, body, absent=Usage()),
            model=str(body.get("modelVersion") or request.model),
            headers=headers,
            tool_calls=calls,
        )

    def chat_stream(
        self, credentials: dict[str, Any], request: ChatRequest
    ) -> Operation[OpenedStream]:
        head = yield from self.open_stream(
            self.model_url(credentials, request.model, "streamGenerateContent"),
            credentials,
            self.body(request),
            params={"alt": "sse"},
            headers={**self.headers(credentials), "Accept": "text/event-stream"},
        )
        return OpenedStream(
            format="sse",
            parser=GenerateChunks(self, head.headers, credentials),
            headers=head.headers,
            model=request.model,
        )

    def embed(
        self, credentials: dict[str, Any], model: str, inputs: list[str]
    ) -> Operation[EmbeddingResult]:
        url = self.model_url(credentials, model, "batchEmbedContents")
        resource = _resource(model)
        vectors: list[list[float]] = []
        headers: Any = {}
        for start in range(0, len(inputs), EMBED_BATCH):
            batch = inputs[start : start + EMBED_BATCH]
            requests = [{"model": resource, "content": {"parts": [{"text": t}]}} for t in batch]
            body, headers = yield from self.post(url, credentials, {"requests": requests})
            embeddings = body.get("embeddings") if isinstance(body, dict) else None
            if not isinstance(embeddings, list) or len(embeddings) != len(batch):
                raise UpstreamError("unexpected answer (not one embedding per input)")
            vectors += [list((item or {}).get("values") or []) for item in embeddings]
        return EmbeddingResult(vectors=vectors, usage=Usage(), model=model, headers=headers)

    def model_url(self, credentials: dict[str, Any], model: str, method: str) -> str:
        resource = quote(_resource(model), safe="/")
        return f"{self.base_url(credentials)}/v1beta/{resource}:{method}"

    def body(self, request: ChatRequest) -> dict[str, Any]:
        names = {call.id: call.name for m in request.messages for call in m.tool_calls}
        contents: list[dict[str, Any]] = []
        for message in request.turns:
            role = ROLES.get(message.role, "user")
            parts = _parts(message, names)
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].extend(parts)
            else:
                contents.append({"role": role, "parts": parts})
        if not contents:
            raise BadRequest("a chat needs at least one user or assistant message")
        body: dict[str, Any] = {"contents": contents}
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        config: dict[str, Any] = {
            "temperature": request.temperature,
            "topP": request.top_p,
            "maxOutputTokens": request.output_limit,
            "stopSequences": list(request.stop) or None,
            "seed": request.seed,
            "presencePenalty": request.presence_penalty,
            "frequencyPenalty": request.frequency_penalty,
        }
        response_format = request.response_format
        if response_format is not None and response_format.type != "text":
            config["responseMimeType"] = "application/json"
            if response_format.schema is not None:
                config["responseSchema"] = gemini_schema(response_format.schema)
        if request.reasoning_effort is not None:
            config["thinkingConfig"] = {
                "thinkingBudget": REASONING_BUDGETS[request.reasoning_effort]
            }
        config = {name: value for name, value in config.items() if value is not None}
        if config:
            body["generationConfig"] = config
        if request.tools:
            body["tools"] = [
                {
                    "functionDeclarations": [
                        {
                            "name": tool.name,
                            **({"description": tool.description} if tool.description else {}),
                            **(
                                {"parameters": gemini_schema(tool.parameters)}
                                if tool.parameters and tool.parameters.get("properties")
                                else {}
                            ),
                        }
                        for tool in request.tools
                    ]
                }
            ]
        if request.tool_choice is not None:
            choice = request.tool_choice
            calling: dict[str, Any] = {
                "mode": "ANY" if isinstance(choice, NamedTool) else TOOL_MODES[choice]
            }
            if isinstance(choice, NamedTool):
                calling["allowedFunctionNames"] = [choice.name]
            body["toolConfig"] = {"functionCallingConfig": calling}
        return body

    # -- errors -------------------------------------------------------------------------------
    def error_kind(self, response: Response) -> str:
        error = _error(response)
        return str(error.get("status") or "") if error else ""

    def classify(self, response: Response, *, secrets: tuple[str, ...] = ()) -> ProviderError:
        status = response.status
        error = _error(response) or {}
        detail = scrub(self.error_text(response), secrets=secrets)
        reasons = [str(d.get("reason") or "") for d in _details(error, "ErrorInfo")]
        if any(reason.startswith(_AUTH_REASONS) for reason in reasons):
            hint = None
            if "SERVICE_DISABLED" in reasons:
                hint = "Enable the Generative Language API for the key's Google Cloud project."
            return AuthenticationFailed(detail or f"HTTP {status}", hint=hint)
        if status == 429:
            if _per_day_quota(error):
                return QuotaExhausted(
                    detail,
                    hint="The key's daily quota is used up; it resets at midnight Pacific time, "
                    "or enable billing for higher limits.",
                )
            return RateLimited(detail, retry_after=retry_after(response) or _retry_delay(error))
        if status == 400 and error.get("status") == "FAILED_PRECONDITION":
            return BadRequest(
                detail or "failed precondition",
                hint="The free tier is not available here: enable billing for the project in "
                "Google AI Studio.",
            )
        return super().classify(response, secrets=secrets)


class GenerateChunks(ChunkParser):
    """The chunks of a streamGenerateContent event stream: each event a whole
    GenerateContentResponse, the finish reason and usage sent as one last chunk at the end."""

    def __init__(
        self, adapter: Adapter, headers: Mapping[str, str], credentials: dict[str, Any]
    ) -> None:
        self.adapter = adapter
        self.headers = headers
        self.credentials = credentials
        self.finished = False
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.calls = 0  # tool calls sent so far

    def feed(self, event: ServerSentEvent) -> list[ChatChunk]:
        try:
            payload = json.loads(event.data)
        except (ValueError, RecursionError):
            raise UpstreamError("unreadable stream event") from None
        if not isinstance(payload, dict):
            return []
        if isinstance(payload.get("error"), dict):  # the stream broke off upstream
            raise self.error(payload)
        text, reason = _answer(payload)
        self.finished = self.finished or _finished(payload)
        self.finish_reason = reason or self.finish_reason
        # Cumulative: the last one counts (None when it cannot be read).
        self.usage = _usage(self.adapter.provider.key, payload, absent=self.usage)
        chunks = [ChatChunk(delta=text)] if text else []
        for call in _calls(payload):  # Gemini sends each call whole: OpenAI's deltas of it
            chunks.append(ChatChunk(tool_calls=(ToolCallDelta(self.calls, call.id, call.name),)))
            chunks.append(
                ChatChunk(tool_calls=(ToolCallDelta(self.calls, arguments=call.arguments),))
            )
            self.calls += 1
        return chunks

    def end(self) -> list[ChatChunk]:
        if not self.finished:  # the last event carries a finish reason; this stream was cut
            raise UpstreamError("the stream ended before the answer was complete")
        reason = self.finish_reason
        if self.calls and reason == "stop":
            reason = "tool_calls"
        return [ChatChunk(finish_reason=reason, usage=self.usage)]

    def error(self, payload: dict) -> ProviderError:
        """An error object in the stream, classified as if it had come as its own status."""
        try:
            status = int(payload["error"].get("code") or 500)
        except (TypeError, ValueError):
            status = 500
        answer = Response(
            status=status if 400 <= status < 600 else 500,
            headers=self.headers,
            content=json.dumps(payload).encode(),
            url="",
        )
        return self.adapter.classify(answer, secrets=self.adapter.secrets(self.credentials))


def _resource(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def _answer(body: dict) -> tuple[str, str | None]:
    """The first candidate's text and finish reason; a blocked prompt has no candidate."""
    candidates = body.get("candidates") or []
    candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(
        str(part.get("text") or "")
        for part in parts
        if isinstance(part, dict) and not part.get("thought")
    )
    reason = candidate.get("finishReason")
    if not candidate and (body.get("promptFeedback") or {}).get("blockReason"):
        return "", "content_filter"
    return text, FINISH_REASONS.get(str(reason)) if reason else None


def _calls(body: dict) -> list[ToolCall]:
    """The first candidate's function calls; Gemini's id when it gave one, else a new one."""
    candidates = body.get("candidates") or []
    candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    parts = (candidate.get("content") or {}).get("parts") or []
    calls = []
    for part in parts:
        call = part.get("functionCall") if isinstance(part, dict) else None
        if isinstance(call, dict) and call.get("name"):
            calls.append(
                ToolCall(
                    id=str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}"),
                    name=str(call["name"]),
                    arguments=json.dumps(call.get("args") or {}),
                )
            )
    return calls


def _parts(message: Message, names: dict[str, str]) -> list[dict[str, Any]]:
    """A turn as Gemini parts: text, inline images (data URLs by now), function calls, and a
    tool message as the `functionResponse` to the call it answers."""
    if message.role == "tool":
        return [
            {
                "functionResponse": {
                    "name": names.get(message.tool_call_id or "", ""),
                    "response": {"result": message.text},
                }
            }
        ]
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, ImagePart):
            parts.append({"inline_data": {"mime_type": part.media_type, "data": part.data}})
        elif part.text:
            parts.append({"text": part.text})
    for call in message.tool_calls:
        parts.append({"functionCall": {"name": call.name, "args": tool_arguments(call.arguments)}})
    return parts or [{"text": ""}]


def gemini_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON schema in the OpenAPI subset Gemini's Schema object takes: `$ref`s into
    `$defs` inlined, `["string", "null"]` types as `nullable`, `const` as a one-value enum,
    keys it does not know (additionalProperties, $schema, strict) left out, types upper-case.
    Raises SchemaNotMappable for what it cannot say."""
    definitions = schema.get("$defs") or schema.get("definitions") or {}

    def convert(node: Any, depth: int) -> Any:
        if depth > MAX_SCHEMA_DEPTH:
            raise SchemaNotMappable("the schema nests too deeply (or refers to itself)")
        if not isinstance(node, Mapping):
            raise SchemaNotMappable("a schema must be an object")
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if not ref.startswith(("#/$defs/", "#/definitions/")) or name not in definitions:
                raise SchemaNotMappable(f"the schema's $ref {ref!r} points nowhere it has")
            return convert(
                {**definitions[name], **{k: v for k, v in node.items() if k != "$ref"}}, depth + 1
            )
        out: dict[str, Any] = {}
        kind = node.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            if len(kinds) != 1:
                raise SchemaNotMappable(f"a type of {kind!r} has no Gemini equivalent")
            out["nullable"] = len(kinds) != len(kind)
            kind = kinds[0]
        if isinstance(kind, str):
            out["type"] = kind.upper()
        if "const" in node:
            out["enum"] = [node["const"]]
        for key, value in node.items():
            if key not in SCHEMA_KEYS or key == "type":
                continue
            if key == "properties" and isinstance(value, Mapping):
                out[key] = {name: convert(sub, depth + 1) for name, sub in value.items()}
            elif key == "items":
                out[key] = convert(value, depth + 1)
            elif key == "anyOf" and isinstance(value, list):
                variants = [
                    v for v in value if not (isinstance(v, Mapping) and v.get("type") == "null")
                ]
                if len(variants) < len(value):
                    out["nullable"] = True
                if len(variants) == 1:
                    out.update(convert(variants[0], depth + 1))
                else:
                    out[key] = [convert(v, depth + 1) for v in variants]
            else:
                out[key] = value
        return out

    return convert(schema, 0)


def _is_null(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "null"


def _finished(body: dict) -> bool:
    candidates = body.get("candidates") or []
    candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    return bool(
        candidate.get("finishReason") or (body.get("promptFeedback") or {}).get("blockReason")
    )


def _usage(provider: str, body: dict, *, absent: Usage | None) -> Usage | None:
    """`usageMetadata` (thinking tokens are billed as output); `absent` when the body has
    none, None (unknown) when it cannot be read."""
    metadata = body.get("usageMetadata")
    if metadata is None:
        return absent
    if not isinstance(metadata, dict):
        return unreadable_usage(provider)
    counted = reported_usage(
        provider,
        metadata.get("promptTokenCount"),
        metadata.get("candidatesTokenCount"),
        metadata.get("thoughtsTokenCount"),
    )
    return with_reasoning(counted, metadata.get("thoughtsTokenCount"), provider=provider)


def _discovered(item: Any) -> DiscoveredModel | None:
    if not isinstance(item, dict) or not item.get("name"):
        return None
    name = str(item["name"]).removeprefix("models/")
    methods = set(item.get("supportedGenerationMethods") or [])
    if methods & EMBED_METHODS:
        kind = "text-embedding"
    elif methods & CHAT_METHODS:
        kind = "llm"
    else:  # image (predict), video, question answering: not model types this console serves
        return None
    return DiscoveredModel(name=name, type=kind, label=str(item.get("displayName") or ""))


def _error(response: Response) -> dict:
    try:
        body = response.json()
    except ProviderError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _details(error: dict, kind: str) -> list[dict]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    return [
        d for d in details if isinstance(d, dict) and str(d.get("@type", "")).endswith(f".{kind}")
    ]


def _per_day_quota(error: dict) -> bool:
    for failure in _details(error, "QuotaFailure"):
        for violation in failure.get("violations") or []:
            if isinstance(violation, dict) and "PerDay" in str(violation.get("quotaId", "")):
                return True
    return False


def _retry_delay(error: dict) -> float | None:
    for info in _details(error, "RetryInfo"):
        match = _DELAY.match(str(info.get("retryDelay") or ""))
        if match:
            return min(float(match.group(1)), MAX_RETRY_AFTER)
    return None
