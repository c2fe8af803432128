"""Fakes of the provider APIs: one real HTTP server on loopback speaking each provider's wire
format (paths, auth headers, success bodies, error bodies and status codes), so adapter tests
exercise the real `outbound.request()` path (SSRF guard, timeouts, body cap) and never patch code.

Every provider lives under its own path prefix (their own paths collide: OpenAI, Anthropic and
Cohere all serve /v1/models):

    /openai/v1/models              OpenAI and every OpenAI-compatible server (Bearer)
    /anthropic/v1/models[/<id>]    Anthropic (x-api-key + anthropic-version)
    /gemini/v1beta/models[/<id>]   Gemini (x-goog-api-key, or ?key=)
    /cohere/v1/models[/<name>]     Cohere (Bearer)
    /azure/openai/models           Azure OpenAI (api-key, ?api-version=)
    /azure/openai/deployments/<d>/chat/completions | /embeddings
    /ollama/api/tags               Ollama (no key; Bearer when behind an auth proxy)
    /stability/v1/user/account     Stability AI (Bearer)
    /elevenlabs/v1/user            ElevenLabs (xi-api-key)

`server.base_url(provider_key)` is the base URL a credential uses. Scenarios are chosen by the
key's content (a key containing "ratelimited" is rate limited), or, for every provider and for
Ollama, which has no key, by an `/s/<scenario>` segment right after the prefix:
`server.base_url("ollama", "ratelimited")` == "http://127.0.0.1:PORT/ollama/s/ratelimited".

Scenarios (SCENARIOS): invalid → the provider's 401 (Gemini: its 400 API_KEY_INVALID);
forbidden → 403 (ElevenLabs: its 401 missing_permissions); ratelimited → 429 with a 7 s
retry delay (a Retry-After: 7 header; Gemini says it in google.rpc.RetryInfo, as Gemini does);
quota → the provider's quota or credit error; notfound → 404; error500 → 500 with the provider's
body; malformed → 200 with an HTML page; hang → sleeps `hang_seconds` then answers; slow →
sleeps 0.2 s then answers; reset → closes the connection without answering (TCP RST); echo →
a 401 whose message repeats the key (a secret-scrubbing check); lastrequest → OpenAI succeeds
but reports no requests left (x-ratelimit-remaining-requests: 0); badusage → the normal answer
(whole or streamed) with every token count of its usage block, in the provider's own field
names, replaced by the string "x"; deepjson → 200 with a JSON array nested 100,000 deep.
Provider-specific ones:
anthropic overloaded (529) and spendlimit (429 enforced_spend_limit_reached), cohere cancelled
(499) and trialmonth (429 monthly trial limit). Any other key (e.g. "sk-test-valid-1") succeeds;
a missing key gets the provider's "no key" error.

`server.requests` records every request as RecordedRequest(method, path, headers, body), the
path with its query string, the header names lower-cased; `server.reset()` clears it and
restores the tunables (hang_seconds, page_size_cap, deployments).

Routes for outbound tests live under /_test/ (redirects, big, trickling and gzip bodies, an
HTML 502): see `_test_route`.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

# Matching order: the first scenario word found in a key wins.
SCENARIOS = (
    "ratelimited",
    "spendlimit",
    "trialmonth",
    "overloaded",
    "cancelled",
    "forbidden",
    "notfound",
    "error500",
    "malformed",
    "invalid",
    "quota",
    "hang",
    "slow",
    "reset",
    "echo",
    "lastrequest",
    "badusage",
    "deepjson",
)
RETRY_AFTER = 7
DEFAULT_HANG_SECONDS = 3.0
SLOW_SECONDS = 0.2
# Servers may return fewer items than a page size asks for; a small cap makes the fakes
# paginate so adapters are seen to follow page tokens.
DEFAULT_PAGE_SIZE_CAP = 4
DEFAULT_DEPLOYMENTS = {"my-gpt-4o": "gpt-4o", "my-embedding": "text-embedding-3-small"}
AZURE_API_VERSIONS = {
    "2024-02-01",
    "2024-06-01",
    "2024-10-21",
    "2024-12-01-preview",
    "2025-01-01-preview",
    "2025-04-01-preview",
}

BASE_PATHS = {
    "openai": "/openai/v1",
    "openai_compatible": "/openai/v1",
    "anthropic": "/anthropic",
    "gemini": "/gemini",
    "cohere": "/cohere",
    "azure_openai": "/azure",
    "ollama": "/ollama",
    "stability": "/stability",
    "elevenlabs": "/elevenlabs",
}

DEEP_JSON_BODY = b"[" * 100_000 + b"]" * 100_000  # valid JSON, too deep for any parser
MALFORMED_BODY = (
    b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head>"
    b"<body><h1>Welcome</h1><p>Accept the terms to continue.</p></body></html>"
)
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class RecordedRequest(NamedTuple):
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list: JSON; bytes/str: sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        if self.body is None:
            return b""
        return json.dumps(self.body).encode()


RESET = object()  # close the connection without answering


@dataclass
class FakeRequest:
    """A request as a provider handler sees it: `path` is the provider's own path."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    server: FakeProviderServer

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        if value.lower().startswith("bearer "):
            return value[7:].strip() or None
        return None

    def int_query(self, name: str, default: int) -> int:
        try:
            return int(self.query.get(name, default))
        except ValueError:
            return default


def scenario_of(key: str | None) -> str | None:
    key = (key or "").lower()
    return next((word for word in SCENARIOS if word in key), None)


def mask(key: str) -> str:
    """How OpenAI shows a wrong key back: "sk-te****1234"."""
    return f"{key[:5]}****{key[-4:]}" if len(key) > 12 else "****"


def request_id(prefix: str = "req_") -> str:
    return prefix + uuid.uuid4().hex[:24]


def paginate(items: list, *, offset: int, size: int, cap: int) -> tuple[list, int | None]:
    size = max(1, min(size, cap))
    page = items[offset : offset + size]
    following = offset + size
    return page, (following if following < len(items) else None)


# -- the providers ----------------------------------------------------------------------------


class FakeProvider:
    prefix = ""
    requires_key = True
    # The provider's token-count fields, wherever its answers (and stream events) carry them.
    USAGE_COUNTS: tuple[str, ...] = ()

    def key(self, req: FakeRequest) -> str | None:
        return req.bearer()

    def missing_key(self, req: FakeRequest) -> Reply:
        return self.error("invalid", req) or Reply(401, {"error": "unauthorized"})

    def error(self, scenario: str, req: FakeRequest) -> Reply | None:
        """The provider's answer for an error scenario, or None when it has no such error."""
        return None

    def handle(self, req: FakeRequest) -> Reply:
        raise NotImplementedError

    def spoil_usage(self, reply: Reply) -> Reply:
        """The "badusage" scenario: the same answer in the same framing (JSON, server-sent
        events or NDJSON lines) with each numeric token count replaced by "x"."""

        def spoil(value: Any) -> Any:
            if isinstance(value, dict):
                return {
                    key: "x"
                    if key in self.USAGE_COUNTS and isinstance(item, int | float)
                    else spoil(item)
                    for key, item in value.items()
                }
            if isinstance(value, list):
                return [spoil(item) for item in value]
            return value

        def spoil_line(line: str) -> str:
            end = "\r" if line.endswith("\r") else ""  # Gemini ends its events with CRLF
            line = line.removesuffix("\r")
            head, data = ("data: ", line[6:]) if line.startswith("data: ") else ("", line)
            if not head and "event-stream" in reply.content_type:
                return line + end  # "event: ...", blank lines
            try:
                payload = json.loads(data)
            except ValueError:
                return line + end  # "[DONE]"
            return head + json.dumps(spoil(payload)) + end

        if reply.status >= 300 or not self.USAGE_COUNTS:
            return reply
        if isinstance(reply.body, dict | list):
            reply.body = spoil(reply.body)
        elif isinstance(reply.body, bytes | str):
            text = reply.body.decode() if isinstance(reply.body, bytes) else reply.body
            lines = [spoil_line(line) for line in text.split("\n")]
            reply.body = "\n".join(lines).encode()
        return reply


class OpenAI(FakeProvider):
    prefix = "openai"
    USAGE_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")
    MODELS = [
        ("gpt-4o", 1715367049, "system"),
        ("gpt-4o-mini", 1721172741, "system"),
        ("gpt-4.1", 1744316542, "system"),
        ("o3", 1744225308, "system"),
        ("gpt-5", 1754425777, "system"),
        ("text-embedding-3-small", 1705948997, "system"),
        ("text-embedding-3-large", 1705953180, "system"),
        ("whisper-1", 1677532384, "openai-internal"),
        ("tts-1", 1681940951, "openai-internal"),
        ("dall-e-3", 1698785189, "system"),
        ("omni-moderation-latest", 1731689265, "system"),
    ]

    @staticmethod
    def body(message: str, type_: str, code: str | None = None) -> dict:
        return {"error": {"message": message, "type": type_, "param": None, "code": code}}

    def missing_key(self, req):
        return Reply(
            401,
            self.body(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
                "or as the password field (with blank username) if you're accessing the API "
                "from your browser and are prompted for a username. You can obtain an API key "
                "from https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
            ),
        )

    def error(self, scenario, req):
        key = self.key(req) or ""
        if scenario in ("invalid", "echo"):
            shown = key if scenario == "echo" else mask(key)
            return Reply(
                401,
                self.body(
                    f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            )
        if scenario == "forbidden":
            return Reply(
                403,
                self.body(
                    "Country, region, or territory not supported",
                    "request_forbidden",
                    "unsupported_country_region_territory",
                ),
            )
        if scenario == "ratelimited":
            return Reply(
                429,
                self.body(
                    "Rate limit reached for gpt-4o in organization org-abc123 on requests per "
                    "min (RPM): Limit 500, Used 500, Requested 1. Please try again in 7s.",
                    "requests",
                    "rate_limit_exceeded",
                ),
                headers={
                    "retry-after": str(RETRY_AFTER),
                    "x-ratelimit-limit-requests": "500",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": f"{RETRY_AFTER}s",
                },
            )
        if scenario == "quota":
            return Reply(
                429,
                self.body(
                    "You exceeded your current quota, please check your plan and billing details.",
                    "insufficient_quota",
                    "insufficient_quota",
                ),
            )
        if scenario == "notfound":
            return Reply(
                404,
                self.body(
                    "The model `gpt-9` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                ),
            )
        if scenario == "error500":
            return Reply(
                500,
                self.body(
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                ),
            )
        return None

    def handle(self, req):
        """Answers carry OpenAI's rate-limit headers; a "lastrequest" key gets its last
        request of the minute (x-ratelimit-remaining-requests: 0, resetting in 20 s)."""
        reply = self.answer(req)
        last = scenario_of(self.key(req)) == "lastrequest"
        reply.headers = {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "0" if last else "499",
            "x-ratelimit-reset-requests": "20s" if last else "120ms",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-tokens": "29990",
            "x-ratelimit-reset-tokens": "20ms",
            **reply.headers,
        }
        return reply

    def answer(self, req):
        if req.method == "GET" and req.path == "/v1/models":
            return Reply(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": name, "object": "model", "created": created, "owned_by": owner}
                        for name, created, owner in self.MODELS
                    ],
                },
            )
        if req.method == "GET" and req.path.startswith("/v1/models/"):
            name = unquote(req.path.removeprefix("/v1/models/"))
            for model, created, owner in self.MODELS:
                if model == name:
                    return Reply(
                        200, {"id": model, "object": "model", "created": created, "owned_by": owner}
                    )
            return self.error("notfound", req)
        calls = {
            "/v1/chat/completions": self.chat_completions,
            "/v1/embeddings": self.embeddings,
            "/v1/moderations": self.moderations,
            "/v1/images/generations": self.images,
            "/v1/audio/transcriptions": self.transcriptions,
            "/v1/audio/speech": self.speech,
        }
        if req.method == "POST" and req.path in calls:
            return calls[req.path](req)
        return Reply(
            404,
            self.body(f"Invalid URL ({req.method} {req.path})", "invalid_request_error"),
        )

    # -- model calls --------------------------------------------------------------------------
    # The chat answer is "You said: <last user message>", a token per word (prompt tokens: the
    # words of every message). A model whose name holds a FAULTS word fails its stream after
    # two content chunks: "midstream" with an error event, "hangup" by dropping the connection.
    # Azure and Ollama reuse these helpers with their own envelopes.
    FAULTS = ("midstream", "hangup")
    REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
    FINGERPRINT = "fp_f33640a400"
    TINY_PNG = (  # a 1x1 PNG, base64: what b64_json carries
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    )
    SPEECH_TYPES = {
        "mp3": "audio/mpeg",
        "opus": "audio/opus",
        "aac": "audio/aac",
        "flac": "audio/flac",
        "wav": "audio/wav",
        "pcm": "audio/pcm",
    }
    VIOLENT_WORDS = ("kill", "attack", "stab")
    MODERATION_CATEGORIES = (
        "harassment",
        "harassment/threatening",
        "hate",
        "hate/threatening",
        "illicit",
        "illicit/violent",
        "self-harm",
        "self-harm/intent",
        "self-harm/instructions",
        "sexual",
        "sexual/minors",
        "violence",
        "violence/graphic",
    )

    class Truncated(bytes):
        """A body that announces more bytes than it holds: the server sends its (too large)
        Content-Length, these bytes, and closes, which is what a connection broken mid-answer
        looks like to the client."""

        def __len__(self) -> int:
            return super().__len__() + 64

    def invalid(self, message: str, param: str | None = None) -> Reply:
        body = self.body(message, "invalid_request_error")
        body["error"]["param"] = param
        return Reply(400, body)

    def chat_completions(self, req):
        body = req.json()
        problem = self.invalid_chat(body)
        if problem:
            return self.invalid(*problem)
        model = str(body["model"])
        if "max_tokens" in body and model.startswith(self.REASONING_PREFIXES):
            return self.invalid(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                "'max_completion_tokens' instead.",
                "max_tokens",
            )
        text, finish = self.reply_to(
            body["messages"],
            max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
            stop=body.get("stop"),
        )
        prompt_tokens = self.count_words(body["messages"])
        if not body.get("stream"):
            return Reply(200, self.completion(model, text, finish, prompt_tokens))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return self.stream(
            model,
            text,
            finish,
            prompt_tokens,
            include_usage=include_usage,
            fault=self.fault_of(model),
        )

    @classmethod
    def fault_of(cls, name: str) -> str | None:
        return next((word for word in cls.FAULTS if word in name), None)

    @staticmethod
    def invalid_chat(body: Any) -> tuple[str, str | None] | None:
        """What the API says of a chat request it refuses: (message, param), or None."""
        if not isinstance(body, dict):
            return "We could not parse the JSON body of your request.", None
        for name in ("model", "messages"):
            if name not in body:
                return f"Missing required parameter: '{name}'.", name
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            return "Invalid 'messages': empty array. Expected an array with minimum length 1.", (
                "messages"
            )
        for index, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("system", "developer", "user", "assistant", "tool"):
                return (
                    f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', "
                    "'user', 'function', 'tool', and 'developer'.",
                    f"messages[{index}].role",
                )
        if "stream_options" in body and not body.get("stream"):
            return (
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
            )
        return None

    @staticmethod
    def reply_to(messages: list, *, max_tokens: int | None = None, stop: Any = None):
        """The answer to a conversation and why it ended: cut before a stop sequence ("stop")
        or after `max_tokens` words ("length")."""
        last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        text = "You said: " + " ".join(str(last.get("content") or "").split())
        for sequence in [stop] if isinstance(stop, str) else stop or []:
            if sequence and sequence in text:
                return text[: text.index(sequence)].rstrip(), "stop"
        words = text.split(" ")
        if max_tokens is not None and len(words) > max_tokens:
            return " ".join(words[:max_tokens]), "length"
        return text, "stop"

    @staticmethod
    def count_words(messages: list) -> int:
        return sum(len(str(m.get("content") or "").split()) for m in messages)

    @staticmethod
    def pieces(text: str) -> list[str]:
        """The text as stream deltas, a word each, joining back to the text exactly."""
        words = text.split(" ")
        return [word + " " for word in words[:-1]] + words[-1:]

    @staticmethod
    def usage(prompt_tokens: int, completion_tokens: int) -> dict:
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    @classmethod
    def completion(cls, model: str, text: str, finish: str, prompt_tokens: int) -> dict:
        message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:29],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": cls.usage(prompt_tokens, len(text.split())),
            "service_tier": "default",
            "system_fingerprint": cls.FINGERPRINT,
        }

    @classmethod
    def stream(
        cls,
        model: str,
        text: str,
        finish: str,
        prompt_tokens: int,
        *,
        include_usage: bool,
        fault: str | None = None,
        first: tuple[dict, ...] = (),
        choice_extra: dict | None = None,
    ) -> Reply:
        """The completion as server-sent events: a role chunk, a chunk a word, a finish chunk,
        a usage chunk with empty `choices` when asked for, `[DONE]`; or, with a `fault`, two
        word chunks and the fault. `first` events go before (Azure's prompt filter notes);
        `choice_extra` joins every choice (Azure's filter results)."""
        chunk_id, created = "chatcmpl-" + uuid.uuid4().hex[:29], int(time.time())

        def chunk(choices: list, **extra) -> dict:
            item = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": cls.FINGERPRINT,
                "choices": choices,
                **extra,
            }
            if include_usage:
                item.setdefault("usage", None)
            return item

        def choice(delta: dict, finish_reason: str | None = None) -> dict:
            return {
                "index": 0,
                "delta": delta,
                "logprobs": None,
                "finish_reason": finish_reason,
                **(choice_extra or {}),
            }

        pieces = cls.pieces(text)[:2] if fault else cls.pieces(text)
        events = [*first, chunk([choice({"role": "assistant", "content": "", "refusal": None})])]
        events += [chunk([choice({"content": piece})]) for piece in pieces]
        if fault == "midstream":
            events.append(
                cls.body(
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                )
            )
        elif fault is None:
            events.append(chunk([choice({}, finish)]))
            if include_usage:
                events.append(chunk([], usage=cls.usage(prompt_tokens, len(text.split()))))
        data = "".join(f"data: {json.dumps(event)}\n\n" for event in events)
        data = (data + ("" if fault else "data: [DONE]\n\n")).encode()
        body = cls.Truncated(data) if fault == "hangup" else data
        return Reply(200, body, content_type="text/event-stream; charset=utf-8")

    @staticmethod
    def vector(text: str) -> list[float]:
        """A deterministic 8-dimensional embedding of a text."""
        return [round(b / 127.5 - 1, 4) for b in uuid.uuid5(uuid.NAMESPACE_URL, text).bytes[:8]]

    @classmethod
    def embedding_list(cls, model: str, inputs: list[str]) -> dict:
        tokens = sum(len(text.split()) for text in inputs)
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": index, "embedding": cls.vector(text)}
                for index, text in enumerate(inputs)
            ],
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @staticmethod
    def inputs(body: Any) -> list[str] | None:
        """`input` as a list of texts (one text may be sent bare), None when it is invalid."""
        value = body.get("input") if isinstance(body, dict) else None
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not value:
            return None
        if not all(isinstance(text, str) and text for text in value):
            return None
        return value

    def embeddings(self, req):
        body = req.json()
        inputs = self.inputs(body)
        if inputs is None or not body.get("model"):
            return self.invalid("'$.input' is invalid. Please check the API reference.", "input")
        reply = self.embedding_list(str(body["model"]), inputs)
        # Each item says its index and nothing promises the list's order: listed last first,
        # adapters are seen to place every vector by its index.
        reply["data"].reverse()
        return Reply(200, reply)

    def moderations(self, req):
        body = req.json()
        inputs = self.inputs(body)
        if inputs is None:
            return self.invalid("Missing required parameter: 'input'.", "input")
        results = []
        for text in inputs:
            violent = any(word in text.lower().split() for word in self.VIOLENT_WORDS)
            flags = {name: violent and name == "violence" for name in self.MODERATION_CATEGORIES}
            results.append(
                {
                    "flagged": violent,
                    "categories": flags,
                    "category_scores": {
                        name: 0.9312 if flag else 0.0001 for name, flag in flags.items()
                    },
                    "category_applied_input_types": {
                        name: ["text"] for name in self.MODERATION_CATEGORIES
                    },
                }
            )
        model = str(body.get("model") or "omni-moderation-latest")
        return Reply(
            200, {"id": "modr-" + uuid.uuid4().hex[:24], "model": model, "results": results}
        )

    def images(self, req):
        body = req.json()
        if not isinstance(body, dict) or not body.get("prompt"):
            return self.invalid("Missing required parameter: 'prompt'.", "prompt")
        model, n = str(body.get("model") or "dall-e-2"), body.get("n", 1)
        if model == "dall-e-3" and n != 1:
            return self.invalid("You must provide n=1 for this model.", "n")
        fmt = body.get("response_format")
        if fmt is not None and not model.startswith("dall-e"):
            return self.invalid("Unknown parameter: 'response_format'.", "response_format")
        fmt = fmt or ("url" if model.startswith("dall-e") else "b64_json")
        data = []
        for _ in range(n):
            if fmt == "b64_json":
                item = {"b64_json": self.TINY_PNG}
            else:
                item = {
                    "url": "https://oaidalleapiprodscus.blob.core.windows.net/private/"
                    f"img-{uuid.uuid4().hex[:24]}.png?se=2025-01-01T01%3A00%3A00Z"
                }
            if model == "dall-e-3":
                item["revised_prompt"] = body["prompt"]
            data.append(item)
        reply: dict[str, Any] = {"created": int(time.time()), "data": data}
        if model.startswith("gpt-image"):
            prompt_tokens = len(str(body["prompt"]).split())
            reply["usage"] = {
                "input_tokens": prompt_tokens,
                "output_tokens": 272 * n,
                "total_tokens": prompt_tokens + 272 * n,
                "input_tokens_details": {"text_tokens": prompt_tokens, "image_tokens": 0},
            }
        return Reply(200, reply)

    @staticmethod
    def multipart(req) -> tuple[dict[str, str], dict[str, tuple[str, str, bytes]]]:
        """A multipart/form-data body: its fields, and its files as (filename, type, bytes)."""
        from email.parser import BytesParser
        from email.policy import HTTP

        content_type = req.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return {}, {}
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + req.body
        )
        fields, files = {}, {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                files[name] = (part.get_filename(), part.get_content_type(), payload)
            else:
                fields[name] = payload.decode()
        return fields, files

    def transcriptions(self, req):
        """The "transcript" says what arrived: the file's size, type and name, the language."""
        fields, files = self.multipart(req)
        if "file" not in files:
            return self.invalid("Missing required parameter: 'file'.", "file")
        if not fields.get("model"):
            return self.invalid("Missing required parameter: 'model'.", "model")
        filename, content_type, data = files["file"]
        text = f"{len(data)} bytes of {content_type} from {filename}"
        if fields.get("language"):
            text += f" in {fields['language']}"
        if fields.get("response_format") == "text":
            return Reply(200, text + "\n", content_type="text/plain; charset=utf-8")
        return Reply(200, {"text": text})

    def speech(self, req):
        """The "audio" is an ID3 header followed by the voice and the text it was asked for."""
        body = req.json()
        for name in ("model", "input", "voice"):
            if not isinstance(body, dict) or not body.get(name):
                return self.invalid(f"Missing required parameter: '{name}'.", name)
        fmt = body.get("response_format") or "mp3"
        if fmt not in self.SPEECH_TYPES:
            return self.invalid(
                f"Invalid value: '{fmt}'. Supported values are: 'mp3', 'opus', 'aac', 'flac', "
                "'wav', and 'pcm'.",
                "response_format",
            )
        audio = b"ID3\x04\x00\x00\x00\x00\x00\x00" + f"{body['voice']}:{body['input']}".encode()
        return Reply(200, audio, content_type=self.SPEECH_TYPES[fmt])


class Anthropic(FakeProvider):
    prefix = "anthropic"
    USAGE_COUNTS = ("input_tokens", "output_tokens")
    # Newest first, as GET /v1/models lists them.
    MODELS = [
        ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"),
        ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
        ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
        ("claude-opus-4-20250514", "Claude Opus 4", "2025-05-22T00:00:00Z"),
        ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z"),
        ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-24T00:00:00Z"),
        ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
        ("claude-3-haiku-20240307", "Claude Haiku 3", "2024-03-07T00:00:00Z"),
    ]

    @staticmethod
    def body(type_: str, message: str, **extra) -> dict:
        error = {"type": type_, "message": message, **extra}
        return {"type": "error", "error": error, "request_id": request_id()}

    def key(self, req):
        return req.headers.get("x-api-key") or None

    def missing_key(self, req):
        return Reply(401, self.body("authentication_error", "x-api-key header is required"))

    def error(self, scenario, req):
        if scenario == "invalid":
            return Reply(401, self.body("authentication_error", "invalid x-api-key"))
        if scenario == "echo":
            return Reply(
                401, self.body("authentication_error", f"invalid x-api-key: {self.key(req)}")
            )
        if scenario == "forbidden":
            return Reply(
                403,
                self.body(
                    "permission_error",
                    "Your API key does not have permission to use the specified resource.",
                ),
            )
        if scenario == "ratelimited":
            return Reply(
                429,
                self.body(
                    "rate_limit_error",
                    "This request would exceed the rate limit for your organization of 50 "
                    "requests per minute. For details, refer to the rate limits documentation. "
                    "You can see the response headers for current usage.",
                ),
                headers={
                    "retry-after": str(RETRY_AFTER),
                    "anthropic-ratelimit-requests-limit": "50",
                    "anthropic-ratelimit-requests-remaining": "0",
                    "anthropic-ratelimit-requests-reset": "2025-01-01T00:00:07Z",
                },
            )
        if scenario == "spendlimit":
            return Reply(
                429,
                self.body(
                    "rate_limit_error",
                    "Your organization has reached its monthly spend limit for its usage tier.",
                    details={"error_code": "enforced_spend_limit_reached"},
                ),
            )
        if scenario == "quota":
            return Reply(
                400,
                self.body(
                    "invalid_request_error",
                    "Your credit balance is too low to access the Anthropic API. Please go to "
                    "Plans & Billing to upgrade or purchase credits.",
                ),
            )
        if scenario == "notfound":
            return Reply(404, self.body("not_found_error", "model: claude-9"))
        if scenario == "error500":
            return Reply(500, self.body("api_error", "Internal server error"))
        if scenario == "overloaded":
            return Reply(529, self.body("overloaded_error", "Overloaded"))
        return None

    @staticmethod
    def model(item: tuple) -> dict:
        model_id, display_name, created_at = item
        return {
            "type": "model",
            "id": model_id,
            "display_name": display_name,
            "created_at": created_at,
        }

    def handle(self, req):
        if not req.headers.get("anthropic-version"):
            return Reply(
                400, self.body("invalid_request_error", "anthropic-version: header is required")
            )
        if req.method == "GET" and req.path == "/v1/models":
            ids = [item[0] for item in self.MODELS]
            after = req.query.get("after_id")
            offset = ids.index(after) + 1 if after in ids else 0
            page, following = paginate(
                self.MODELS,
                offset=offset,
                size=req.int_query("limit", 20),
                cap=req.server.page_size_cap,
            )
            return Reply(
                200,
                {
                    "data": [self.model(item) for item in page],
                    "has_more": following is not None,
                    "first_id": page[0][0] if page else None,
                    "last_id": page[-1][0] if page else None,
                },
            )
        if req.method == "GET" and req.path.startswith("/v1/models/"):
            name = unquote(req.path.removeprefix("/v1/models/"))
            for item in self.MODELS:
                if item[0] == name:
                    return Reply(200, self.model(item))
            return Reply(404, self.body("not_found_error", f"model: {name}"))
        if req.method == "POST" and req.path == "/v1/messages":
            return self.messages(req)
        return Reply(404, self.body("not_found_error", "Not Found"))

    # -- chat: the answer is "You said: <last user message>", a token per word ----------------
    def messages(self, req):
        """POST /v1/messages, whole or streamed. A model whose name holds "midstream" sends
        two deltas and then an overloaded_error event; "truncated", two deltas and nothing
        more (no message_stop)."""
        body = req.json()
        problem = self.invalid_messages(body)
        if problem:
            return Reply(400, self.body("invalid_request_error", problem))
        model = body["model"]
        if not model.startswith("claude"):
            return Reply(404, self.body("not_found_error", f"model: {model}"))
        text, stop_reason, stop_sequence = self.answer(body)
        usage = {"input_tokens": self.input_tokens(body), "output_tokens": len(text.split())}
        message_id = "msg_" + uuid.uuid4().hex[:24]
        if not body.get("stream"):
            return Reply(
                200,
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": stop_reason,
                    "stop_sequence": stop_sequence,
                    "usage": usage,
                },
            )
        start = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
        }
        events = [
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
            ),
            ("ping", {"type": "ping"}),
        ]
        pieces = self.pieces(text)
        broken = "midstream" in model or "truncated" in model
        if broken:
            pieces = pieces[:2]
        for piece in pieces:
            delta = {"type": "text_delta", "text": piece}
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            )
        if "midstream" in model:
            error = {"type": "overloaded_error", "message": "Overloaded"}
            events.append(("error", {"type": "error", "error": error}))
        if broken:  # "truncated": the connection ends without message_stop
            return self.sse(events)
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return self.sse(events)

    @staticmethod
    def invalid_messages(body: Any) -> str | None:
        """What the Messages API says of a request it refuses (the checks a translation needs)."""
        if not isinstance(body, dict):
            return "body: Input should be an object"
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return f"{name}: Field required"
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        previous = None
        for index, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role == "system":
                return (
                    'messages: Unexpected role "system". The Messages API accepts a top-level '
                    '`system` parameter, not "system" as an input message role.'
                )
            if role not in ("user", "assistant"):
                return f"messages.{index}.role: Input should be 'user' or 'assistant'"
            if role == previous:
                return (
                    'messages: roles must alternate between "user" and "assistant", but found '
                    f'multiple "{role}" roles in a row'
                )
            previous = role
        if messages[0]["role"] != "user":
            return 'messages: first message must use the "user" role'
        return None

    @staticmethod
    def text_of(content: Any) -> str:
        if isinstance(content, str):
            return content
        return "\n\n".join(
            str(block.get("text") or "")
            for block in content or []
            if isinstance(block, dict) and block.get("type") == "text"
        )

    def answer(self, body: dict) -> tuple[str, str, str | None]:
        """The answer text, its stop reason and the stop sequence that ended it."""
        last = next(m for m in reversed(body["messages"]) if m["role"] == "user")
        text = "You said: " + " ".join(self.text_of(last["content"]).split())
        for stop in body.get("stop_sequences") or []:
            if stop in text:
                return text[: text.index(stop)].rstrip(), "stop_sequence", stop
        words = text.split(" ")
        if len(words) > body["max_tokens"]:
            return " ".join(words[: body["max_tokens"]]), "max_tokens", None
        return text, "end_turn", None

    def input_tokens(self, body: dict) -> int:
        system = body.get("system") or ""
        prompt = [self.text_of(system)] + [self.text_of(m["content"]) for m in body["messages"]]
        return sum(len(part.split()) for part in prompt)

    @staticmethod
    def pieces(text: str) -> list[str]:
        """The text as stream deltas, a word each, joining back to the text exactly."""
        words = text.split(" ")
        return [word + " " for word in words[:-1]] + words[-1:]

    @staticmethod
    def sse(events: list[tuple[str, dict]]) -> Reply:
        data = "".join(f"event: {name}\ndata: {json.dumps(item)}\n\n" for name, item in events)
        return Reply(200, data, content_type="text/event-stream; charset=utf-8")


class Gemini(FakeProvider):
    prefix = "gemini"
    USAGE_COUNTS = (
        "promptTokenCount",
        "candidatesTokenCount",
        "thoughtsTokenCount",
        "totalTokenCount",
    )
    GENERATE = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
    EMBED = ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"]
    MODELS = [
        ("gemini-2.5-pro", "Gemini 2.5 Pro", 1048576, GENERATE),
        ("gemini-2.5-flash", "Gemini 2.5 Flash", 1048576, GENERATE),
        ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", 1048576, GENERATE),
        ("gemini-2.0-flash", "Gemini 2.0 Flash", 1048576, GENERATE),
        ("gemma-3-27b-it", "Gemma 3 27B", 131072, ["generateContent", "countTokens"]),
        ("gemini-embedding-001", "Gemini Embedding 001", 2048, EMBED),
        ("text-embedding-004", "Text Embedding 004", 2048, ["embedContent"]),
        ("imagen-4.0-generate-001", "Imagen 4", 480, ["predict"]),
        ("aqa", "Model that performs Attributed Question Answering.", 7168, ["generateAnswer"]),
    ]

    @staticmethod
    def body(code: int, status: str, message: str, details: list | None = None) -> dict:
        error: dict[str, Any] = {"code": code, "message": message, "status": status}
        if details is not None:
            error["details"] = details
        return {"error": error}

    @staticmethod
    def error_info(reason: str, **metadata) -> dict:
        return {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com", **metadata},
        }

    def key(self, req):
        return req.headers.get("x-goog-api-key") or req.query.get("key") or None

    def missing_key(self, req):
        return Reply(
            403,
            self.body(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            ),
        )

    def quota_violation(self, quota_id: str, value: str) -> dict:
        return {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/"
                    "generate_content_free_tier_requests",
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
                    "quotaValue": value,
                }
            ],
        }

    def error(self, scenario, req):
        key = self.key(req) or ""
        if scenario == "invalid":
            message = "API key not valid. Please pass a valid API key."
            return Reply(
                400,
                self.body(
                    400,
                    "INVALID_ARGUMENT",
                    message,
                    [
                        self.error_info("API_KEY_INVALID"),
                        {
                            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                            "locale": "en-US",
                            "message": message,
                        },
                    ],
                ),
            )
        if scenario in ("forbidden", "echo"):
            # Gemini names the key in this message; the adapter must scrub it.
            return Reply(
                403,
                self.body(
                    403,
                    "PERMISSION_DENIED",
                    f"Permission denied: Consumer 'api_key:{key}' has been suspended.",
                    [self.error_info("CONSUMER_SUSPENDED", consumer=f"projects/{key}")],
                ),
            )
        if scenario == "ratelimited":
            return Reply(
                429,
                self.body(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "You exceeded your current quota, please check your plan and billing "
                    "details. For more information on this error, head to: "
                    "https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for "
                    "metric: generativelanguage.googleapis.com/generate_content_free_tier_"
                    "requests, limit: 5, model: gemini-2.5-pro\nPlease retry in 7.0s.",
                    [
                        self.quota_violation(
                            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "5"
                        ),
                        {
                            "@type": "type.googleapis.com/google.rpc.Help",
                            "links": [
                                {
                                    "description": "Learn more about Gemini API quotas",
                                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                                }
                            ],
                        },
                        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
                    ],
                ),
            )
        if scenario == "quota":
            return Reply(
                429,
                self.body(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "You exceeded your current quota, please check your plan and billing "
                    "details.\n* Quota exceeded for metric: generativelanguage.googleapis.com/"
                    "generate_content_free_tier_requests, limit: 100, model: gemini-2.5-pro\n"
                    "Please retry in 35041.2s.",
                    [
                        self.quota_violation(
                            "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "100"
                        ),
                        {
                            "@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": "35041s",
                        },
                    ],
                ),
            )
        if scenario == "notfound":
            return Reply(404, self.not_found("models/gemini-9"))
        if scenario == "error500":
            return Reply(
                500,
                self.body(
                    500,
                    "INTERNAL",
                    "An internal error has occurred. Please retry or report in "
                    "https://developers.generativeai.google/guide/troubleshooting",
                ),
            )
        return None

    def not_found(self, name: str) -> dict:
        return self.body(
            404,
            "NOT_FOUND",
            f"{name} is not found for API version v1beta, or is not supported for "
            "generateContent. Call ListModels to see the list of available models and their "
            "supported methods.",
        )

    @staticmethod
    def model(item: tuple) -> dict:
        name, display, input_limit, methods = item
        return {
            "name": f"models/{name}",
            "version": "001",
            "displayName": display,
            "description": display,
            "inputTokenLimit": input_limit,
            "outputTokenLimit": 8192,
            "supportedGenerationMethods": methods,
        }

    def handle(self, req):
        if req.method == "GET" and req.path == "/v1beta/models":
            page, following = paginate(
                self.MODELS,
                offset=req.int_query("pageToken", 0),
                size=req.int_query("pageSize", 50),
                cap=req.server.page_size_cap,
            )
            body: dict[str, Any] = {"models": [self.model(item) for item in page]}
            if following is not None:
                body["nextPageToken"] = str(following)
            return Reply(200, body)
        if req.method == "POST" and req.path.startswith("/v1beta/models/"):
            name, _, method = unquote(req.path.removeprefix("/v1beta/models/")).partition(":")
            if method in ("generateContent", "streamGenerateContent"):
                return self.generate(req, name, stream=method == "streamGenerateContent")
            if method == "batchEmbedContents":
                return self.batch_embed(req, name)
            return Reply(404, self.body(404, "NOT_FOUND", "Method not found."))
        if req.method == "GET" and req.path.startswith("/v1beta/models/"):
            name = unquote(req.path.removeprefix("/v1beta/models/"))
            for item in self.MODELS:
                if item[0] == name:
                    return Reply(200, self.model(item))
            return Reply(404, self.not_found(f"models/{name}"))
        return Reply(404, self.body(404, "NOT_FOUND", "Method not found."))

    # -- chat: the answer is "You said: <last user text>", a token per word --------------------
    REQUEST_FIELDS = {
        "contents",
        "systemInstruction",
        "generationConfig",
        "safetySettings",
        "tools",
        "toolConfig",
        "cachedContent",
    }
    CONFIG_FIELDS = {
        "temperature",
        "topP",
        "topK",
        "maxOutputTokens",
        "stopSequences",
        "candidateCount",
        "responseMimeType",
        "thinkingConfig",
    }

    def invalid(self, message: str) -> Reply:
        return Reply(400, self.body(400, "INVALID_ARGUMENT", message))

    def generate(self, req, name: str, *, stream: bool):
        """generateContent and streamGenerateContent (?alt=sse: server-sent events, else a
        JSON array). A model whose name holds "midstream" streams two chunks and then an
        UNAVAILABLE error; "truncated", two chunks and no finishReason. A last user message
        saying "dangerous" is blocked (SAFETY)."""
        if not name.startswith(("gemini", "gemma")):
            return Reply(404, self.not_found(f"models/{name}"))
        body = req.json()
        if not isinstance(body, dict):
            return self.invalid("Invalid JSON payload received.")
        unknown = sorted(set(body) - self.REQUEST_FIELDS)
        if unknown:
            return self.invalid(
                f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
            )
        config = body.get("generationConfig") or {}
        unknown = sorted(set(config) - self.CONFIG_FIELDS)
        if unknown:
            return self.invalid(
                f'Invalid JSON payload received. Unknown name "{unknown[0]}" at '
                "'generation_config': Cannot find field."
            )
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self.invalid("* GenerateContentRequest.contents: contents is not specified")
        if any(not isinstance(c, dict) or c.get("role") not in ("user", "model") for c in contents):
            return self.invalid("Please use a valid role: user, model.")
        last = next((c for c in reversed(contents) if c["role"] == "user"), None)
        text = "You said: " + " ".join(self.text_of(last).split()) if last else ""
        finish = "STOP"
        for stop in config.get("stopSequences") or []:
            if stop in text:
                text = text[: text.index(stop)].rstrip()
        words = text.split(" ")
        if config.get("maxOutputTokens") and len(words) > config["maxOutputTokens"]:
            text, finish = " ".join(words[: config["maxOutputTokens"]]), "MAX_TOKENS"
        if "dangerous" in self.text_of(last):
            text, finish = "", "SAFETY"
        prompt = [self.text_of(body.get("systemInstruction"))]
        prompt += [self.text_of(content) for content in contents]
        usage = {
            "promptTokenCount": sum(len(part.split()) for part in prompt),
            "candidatesTokenCount": len(text.split()),
        }
        usage["totalTokenCount"] = usage["promptTokenCount"] + usage["candidatesTokenCount"]
        if not stream:
            return Reply(200, self.response(name, text, finish, usage))
        words = text.split(" ") if text else []
        pieces = [word + " " for word in words[:-1]] + words[-1:]
        chunks = [self.response(name, piece, None, None) for piece in pieces]
        if "midstream" in name:
            error = self.body(
                503, "UNAVAILABLE", "The model is overloaded. Please try again later."
            )
            chunks = chunks[:2] + [error]
        elif "truncated" in name:  # the connection ends before the chunk with finishReason
            chunks = chunks[:2]
        elif chunks:
            chunks[-1] = self.response(name, pieces[-1], finish, usage)
        else:
            chunks = [self.response(name, "", finish, usage)]
        if req.query.get("alt") != "sse":
            return Reply(200, chunks)
        data = "".join(f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in chunks)
        return Reply(200, data, content_type="text/event-stream")

    @staticmethod
    def text_of(content: Any) -> str:
        parts = content.get("parts") if isinstance(content, dict) else None
        return "\n\n".join(
            str(part.get("text") or "") for part in parts or [] if isinstance(part, dict)
        )

    @staticmethod
    def response(name: str, text: str, finish: str | None, usage: dict | None) -> dict:
        candidate: dict[str, Any] = {"index": 0}
        if text or finish != "SAFETY":
            candidate["content"] = {"parts": [{"text": text}], "role": "model"}
        if finish:
            candidate["finishReason"] = finish
        if finish == "SAFETY":
            candidate["safetyRatings"] = [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
            ]
        body: dict[str, Any] = {"candidates": [candidate], "modelVersion": name}
        if usage:
            body["usageMetadata"] = usage
        body["responseId"] = uuid.uuid4().hex[:22]
        return body

    # -- embeddings: a vector of the text's length, its word count and 0.25 ---------------------
    def batch_embed(self, req, name: str):
        if not any(item[0] == name and "embedContent" in item[3] for item in self.MODELS):
            return Reply(404, self.not_found(f"models/{name}"))
        body = req.json()
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return self.invalid("* BatchEmbedContentsRequest.requests: requests is not specified")
        if len(requests) > 100:
            return self.invalid(
                "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch"
            )
        vectors = []
        for index, request in enumerate(requests):
            if not isinstance(request, dict) or request.get("model") != f"models/{name}":
                return self.invalid(
                    f"* BatchEmbedContentsRequest.requests[{index}].model: the model must match "
                    f"the model of the batch (models/{name})"
                )
            text = self.text_of(request.get("content"))
            vectors.append({"values": [float(len(text)), float(len(text.split())), 0.25]})
        return Reply(200, {"embeddings": vectors})


class Cohere(FakeProvider):
    prefix = "cohere"
    USAGE_COUNTS = ("input_tokens", "output_tokens")
    CHAT = ["generate", "chat", "summarize"]
    MODELS = [
        ("command-a-03-2025", CHAT, ["chat"], 256000),
        ("command-r-plus-08-2024", CHAT, ["chat"], 128000),
        ("command-r7b-12-2024", CHAT, ["chat"], 128000),
        ("c4ai-aya-expanse-32b", ["chat"], ["chat"], 128000),
        ("embed-v4.0", ["embed", "embed_image"], ["embed"], 128000),
        ("embed-english-v3.0", ["embed", "classify", "embed_image"], ["embed"], 512),
        ("rerank-v3.5", ["rerank"], ["rerank"], 4096),
        ("rerank-multilingual-v3.0", ["rerank"], [], 4096),
    ]

    @staticmethod
    def body(message: str) -> dict:
        return {"id": str(uuid.uuid4()), "message": message}

    def missing_key(self, req):
        return Reply(401, self.body("no api key supplied"))

    def error(self, scenario, req):
        if scenario == "invalid":
            return Reply(401, self.body("invalid api token"))
        if scenario == "echo":
            return Reply(401, self.body(f"invalid api token: {self.key(req)}"))
        if scenario == "forbidden":
            return Reply(403, self.body("forbidden: this API key cannot access this resource"))
        if scenario == "ratelimited":
            return Reply(
                429,
                self.body(
                    "You are using a Trial key, which is limited to 10 API calls / minute. You "
                    "can continue to use the Trial key for free or upgrade to a Production key "
                    "with higher rate limits at 'https://dashboard.cohere.com/api-keys'. Contact "
                    "us on 'https://discord.gg/XW44jPfYJu' or email us at support@cohere.com "
                    "with any questions"
                ),
                headers={"retry-after": str(RETRY_AFTER)},
            )
        if scenario == "trialmonth":
            return Reply(
                429,
                self.body(
                    "You are using a Trial key, which is limited to 1000 API calls / month. You "
                    "can continue to use the Trial key for free or upgrade to a Production key "
                    "with higher rate limits at 'https://dashboard.cohere.com/api-keys'."
                ),
            )
        if scenario == "quota":
            return Reply(
                402,
                self.body(
                    "Please add or update your payment method at "
                    "https://dashboard.cohere.com/billing?tab=payment to continue"
                ),
            )
        if scenario == "notfound":
            return Reply(
                404,
                self.body(
                    "model 'command-9' not found, make sure the correct model ID was used and "
                    "that you have access to the model."
                ),
            )
        if scenario == "cancelled":
            return Reply(499, self.body("request cancelled"))
        if scenario == "error500":
            return Reply(
                500, self.body("internal server error, this has been reported to our developers")
            )
        return None

    @staticmethod
    def model(item: tuple) -> dict:
        name, endpoints, default_endpoints, context = item
        return {
            "name": name,
            "endpoints": endpoints,
            "finetuned": False,
            "context_length": context,
            "tokenizer_url": f"https://storage.googleapis.com/cohere-public/tokenizers/{name}.json",
            "default_endpoints": default_endpoints,
        }

    def handle(self, req):
        if req.method == "GET" and req.path == "/v1/models":
            models = self.MODELS
            if req.query.get("endpoint"):
                models = [m for m in models if req.query["endpoint"] in m[1]]
            page, following = paginate(
                models,
                offset=req.int_query("page_token", 0),
                size=req.int_query("page_size", 20),
                cap=req.server.page_size_cap,
            )
            body: dict[str, Any] = {"models": [self.model(item) for item in page]}
            if following is not None:
                body["next_page_token"] = str(following)
            return Reply(200, body)
        if req.method == "GET" and req.path.startswith("/v1/models/"):
            name = unquote(req.path.removeprefix("/v1/models/"))
            for item in self.MODELS:
                if item[0] == name:
                    return Reply(200, self.model(item))
            return Reply(
                404,
                self.body(
                    f"model '{name}' not found, make sure the correct model ID was used and "
                    "that you have access to the model."
                ),
            )
        if req.method == "POST" and req.path == "/v2/chat":
            return self.chat(req)
        if req.method == "POST" and req.path == "/v2/embed":
            return self.embed(req)
        return Reply(404, self.body("Not Found"))

    # -- chat: the answer is "You said: <last user message>", a token per word -----------------
    CHAT_FIELDS = {
        "model",
        "messages",
        "stream",
        "temperature",
        "p",
        "k",
        "max_tokens",
        "stop_sequences",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "tools",
        "documents",
        "response_format",
        "safety_mode",
    }
    TEMPLATE_TOKENS = 100  # the prompt template Cohere adds (counted in tokens, not billed)

    def invalid(self, message: str) -> Reply:
        return Reply(400, self.body(f"invalid request: {message}"))

    def chat(self, req):
        """POST /v2/chat, whole or streamed. A model whose name holds "midstream" streams two
        deltas and then ends with finish_reason ERROR; "truncated", two deltas and no
        message-end."""
        body = req.json()
        if not isinstance(body, dict):
            return self.invalid("body must be a JSON object")
        unknown = sorted(set(body) - self.CHAT_FIELDS)
        if unknown:
            return self.invalid(f"unknown field: parameter {unknown[0]} is not a valid field")
        model = body.get("model")
        if not model:
            return self.invalid("model must be specified")
        if not str(model).startswith(("command", "c4ai")):
            return Reply(404, self.body(f"model '{model}' not found"))
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.invalid("messages must contain at least one message")
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in (
                "system",
                "user",
                "assistant",
                "tool",
            ):
                return self.invalid(
                    f"messages[{index}].role must be one of system, user, assistant, tool"
                )
        last = next((m for m in reversed(messages) if m["role"] == "user"), {})
        text = "You said: " + " ".join(str(last.get("content") or "").split())
        finish = "COMPLETE"
        for stop in body.get("stop_sequences") or []:
            if stop in text:
                text, finish = text[: text.index(stop)].rstrip(), "STOP_SEQUENCE"
        words = text.split(" ")
        if body.get("max_tokens") and len(words) > body["max_tokens"]:
            text, finish = " ".join(words[: body["max_tokens"]]), "MAX_TOKENS"
        billed = {
            "input_tokens": sum(len(str(m.get("content") or "").split()) for m in messages),
            "output_tokens": len(text.split()),
        }
        usage = {
            "billed_units": billed,
            "tokens": {
                "input_tokens": billed["input_tokens"] + self.TEMPLATE_TOKENS,
                "output_tokens": billed["output_tokens"] + 2,
            },
        }
        message_id = str(uuid.uuid4())
        if not body.get("stream"):
            return Reply(
                200,
                {
                    "id": message_id,
                    "finish_reason": finish,
                    "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
                    "usage": usage,
                },
            )
        start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}
        events = [
            ("message-start", {"id": message_id, "delta": {"message": start}}),
            (
                "content-start",
                {"index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}},
            ),
        ]
        words = text.split(" ")
        pieces = [word + " " for word in words[:-1]] + words[-1:]
        if "midstream" in model or "truncated" in model:
            pieces = pieces[:2]
        for piece in pieces:
            delta = {"message": {"content": {"text": piece}}}
            events.append(("content-delta", {"index": 0, "delta": delta}))
        if "midstream" in model:
            end = {
                "finish_reason": "ERROR",
                "error": "internal server error: the generation was interrupted",
            }
            events.append(("message-end", {"id": message_id, "delta": end}))
        elif "truncated" not in model:  # "truncated": the connection ends without message-end
            events.append(("content-end", {"index": 0}))
            end = {"finish_reason": finish, "usage": usage}
            events.append(("message-end", {"id": message_id, "delta": end}))
        data = "".join(
            f"event: {name}\ndata: {json.dumps({'type': name, **item})}\n\n"
            for name, item in events
        )
        return Reply(200, data, content_type="text/event-stream")

    # -- embeddings: a vector of the text's length, its word count and 0.5 ----------------------
    def embed(self, req):
        body = req.json()
        if not isinstance(body, dict):
            return self.invalid("body must be a JSON object")
        model = body.get("model")
        if not any(item[0] == model and "embed" in item[1] for item in self.MODELS):
            return Reply(404, self.body(f"model '{model}' not found"))
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts:
            return self.invalid("texts must contain at least one text")
        if len(texts) > 96:
            return self.invalid("texts cannot be more than 96 elements")
        if not body.get("input_type"):
            return self.invalid("valid input_type must be provided with the provided model")
        floats = [[float(len(text)), float(len(text.split())), 0.5] for text in texts]
        return Reply(
            200,
            {
                "id": str(uuid.uuid4()),
                "embeddings": {"float": floats},
                "texts": texts,
                "meta": {
                    "api_version": {"version": "2"},
                    "billed_units": {"input_tokens": sum(len(t.split()) for t in texts)},
                },
                "response_type": "embeddings_by_type",
            },
        )


class Azure(FakeProvider):
    prefix = "azure"
    USAGE_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")
    MODELS = [
        ("gpt-4o-2024-08-06", "chat_completion"),
        ("gpt-4o-mini-2024-07-18", "chat_completion"),
        ("gpt-4.1-2025-04-14", "chat_completion"),
        ("gpt-35-turbo-0125", "chat_completion"),
        ("text-embedding-3-small", "embeddings"),
        ("text-embedding-3-large", "embeddings"),
        ("dall-e-3-3.0", "image_generation"),
    ]
    DEPLOYMENT_NOT_FOUND = {
        "error": {
            "code": "DeploymentNotFound",
            "message": "The API deployment for this resource does not exist. If you created the "
            "deployment within the last 5 minutes, please wait a moment and try again.",
        }
    }

    @staticmethod
    def body(code: str, message: str) -> dict:
        return {"error": {"code": code, "message": message}}

    def key(self, req):
        return req.headers.get("api-key") or None

    def missing_key(self, req):
        return Reply(
            401,
            self.body(
                "401",
                "Access denied due to missing subscription key. Make sure to include "
                "subscription key when making requests to an API.",
            ),
        )

    def error(self, scenario, req):
        if scenario in ("invalid", "echo"):
            extra = f" (key {self.key(req)})" if scenario == "echo" else ""
            return Reply(
                401,
                self.body(
                    "401",
                    "Access denied due to invalid subscription key or wrong API endpoint. Make "
                    "sure to provide a valid key for an active subscription and use a correct "
                    f"regional API endpoint for your resource.{extra}",
                ),
            )
        if scenario == "forbidden":
            return Reply(
                403, self.body("403", "Access denied due to Virtual Network/Firewall rules.")
            )
        if scenario == "ratelimited":
            version = req.query.get("api-version", "2024-10-21")
            return Reply(
                429,
                self.body(
                    "429",
                    "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
                    f"version {version} have exceeded call rate limit of your current OpenAI "
                    f"S0 pricing tier. Please retry after {RETRY_AFTER} seconds. Please go here: "
                    "https://aka.ms/oai/quotaincrease if you would like to further increase "
                    "the default rate limit.",
                ),
                headers={
                    "retry-after": str(RETRY_AFTER),
                    "retry-after-ms": str(RETRY_AFTER * 1000),
                    "x-ratelimit-remaining-requests": "0",
                },
            )
        if scenario == "quota":
            return Reply(
                403,
                self.body(
                    "403",
                    "Out of call volume quota for OpenAI S0 pricing tier. Quota will be "
                    "replenished in 2.12:34:56.",
                ),
            )
        if scenario == "notfound":
            if "/deployments/" in req.path:
                return Reply(404, self.DEPLOYMENT_NOT_FOUND)
            return Reply(404, self.body("404", "Resource not found"))
        if scenario == "error500":
            return Reply(
                500,
                self.body(
                    "InternalServerError",
                    "The service is temporarily unable to process your request. Please try "
                    "again later.",
                ),
            )
        return None

    def handle(self, req):
        version = req.query.get("api-version")
        if not version:
            return Reply(404, self.body("404", "Resource not found"))
        if version not in AZURE_API_VERSIONS:
            return Reply(400, self.body("BadRequest", "API version not supported"))
        if req.method == "GET" and req.path == "/openai/models":
            return Reply(
                200, {"data": [self.model(*item) for item in self.MODELS], "object": "list"}
            )
        parts = req.path.split("/")  # ['', 'openai', 'deployments', '<d>', 'chat', 'completions']
        if req.method == "POST" and len(parts) >= 5 and parts[1:3] == ["openai", "deployments"]:
            deployment, operation = unquote(parts[3]), "/".join(parts[4:])
            base_model = req.server.deployments.get(deployment)
            if base_model is None:
                return Reply(404, self.DEPLOYMENT_NOT_FOUND)
            embedding = base_model.startswith("text-embedding")
            body = req.json()
            if operation == "chat/completions":
                if embedding:
                    return Reply(400, self.unsupported("chatCompletion", base_model))
                return self.chat_completions(req, deployment, base_model, version, body)
            if operation == "embeddings":
                if not embedding:
                    return Reply(400, self.unsupported("embeddings", base_model))
                inputs = OpenAI.inputs(body)
                if inputs is None:
                    return Reply(400, self.body("BadRequest", "'input' is a required property"))
                return Reply(200, OpenAI.embedding_list(base_model, inputs))
        return Reply(404, self.body("404", "Resource not found"))

    # -- chat: OpenAI's answer and stream (see the OpenAI fake), with Azure's content filter
    # notes; the deployment's name chooses a FAULTS word ("my-midstream") -------------------
    SAFE = {
        name: {"filtered": False, "severity": "safe"}
        for name in ("hate", "self_harm", "sexual", "violence")
    }
    PROMPT_FILTER = {
        "prompt_index": 0,
        "content_filter_results": {**SAFE, "jailbreak": {"filtered": False, "detected": False}},
    }
    # `stream_options` arrived with 2024-09-01-preview; earlier versions refuse the field.
    STREAM_USAGE_SINCE = "2024-09-01"

    def chat_completions(self, req, deployment: str, base_model: str, version: str, body: Any):
        problem = OpenAI.invalid_chat(
            {"model": deployment, **body} if isinstance(body, dict) else body
        )
        if problem:
            return Reply(400, OpenAI.body(problem[0], "invalid_request_error"))
        if "stream_options" in body and version < self.STREAM_USAGE_SINCE:
            return Reply(
                400,
                OpenAI.body(
                    "Unrecognized request argument supplied: stream_options",
                    "invalid_request_error",
                ),
            )
        model = next((m for m, _ in self.MODELS if m.startswith(base_model + "-")), base_model)
        text, finish = OpenAI.reply_to(
            body["messages"],
            max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
            stop=body.get("stop"),
        )
        prompt_tokens = OpenAI.count_words(body["messages"])
        if not body.get("stream"):
            reply = OpenAI.completion(model, text, finish, prompt_tokens)
            reply["choices"][0]["content_filter_results"] = self.SAFE
            reply["prompt_filter_results"] = [self.PROMPT_FILTER]
            return Reply(200, reply)
        notes = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [self.PROMPT_FILTER],
        }
        return OpenAI.stream(
            model,
            text,
            finish,
            prompt_tokens,
            include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
            fault=OpenAI.fault_of(deployment),
            first=(notes,),
            choice_extra={"content_filter_results": self.SAFE},
        )

    @staticmethod
    def model(model_id: str, capability: str) -> dict:
        capabilities = {
            "fine_tune": False,
            "inference": True,
            "completion": False,
            "chat_completion": capability == "chat_completion",
            "embeddings": capability == "embeddings",
        }
        return {
            "status": "succeeded",
            "capabilities": capabilities,
            "lifecycle_status": "generally-available",
            "deprecation": {"inference": 1788825600},
            "id": model_id,
            "created_at": 1722902400,
            "object": "model",
        }

    def unsupported(self, operation: str, model: str) -> dict:
        return self.body(
            "OperationNotSupported",
            f"The {operation} operation does not work with the specified model, {model}. Please "
            "choose different model and try again. You can learn more about which models can be "
            "used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993.",
        )


class Ollama(FakeProvider):
    """Ollama needs no key; the auth-flavoured scenarios model an authenticating (and metering)
    reverse proxy in front of it, which answers in Ollama's own {"error": "..."} shape."""

    prefix = "ollama"
    USAGE_COUNTS = ("prompt_eval_count", "eval_count")
    requires_key = False
    MODELS = [
        ("llama3.2:latest", "llama", "3.2B", "Q4_K_M", 2019393189),
        ("qwen2.5:7b", "qwen2", "7.6B", "Q4_K_M", 4683087332),
        ("llava:13b", "llama", "13B", "Q4_0", 8011256494),
        ("nomic-embed-text:latest", "nomic-bert", "137M", "F16", 274302450),
        ("all-minilm:latest", "bert", "23M", "F16", 45960996),
    ]

    def error(self, scenario, req):
        if scenario == "invalid":
            return Reply(401, {"error": "unauthorized"})
        if scenario == "echo":
            return Reply(401, {"error": f"unauthorized: token {self.key(req)} is not valid"})
        if scenario == "forbidden":
            return Reply(403, {"error": "forbidden"})
        if scenario == "ratelimited":
            return Reply(
                429,
                {"error": "too many requests"},
                headers={"retry-after": str(RETRY_AFTER)},
            )
        if scenario == "quota":
            return Reply(402, {"error": "payment required: your usage limit has been reached"})
        if scenario == "notfound":
            return Reply(404, b"404 page not found", content_type="text/plain")
        if scenario == "error500":
            return Reply(500, {"error": "llama runner process has terminated: signal: killed"})
        return None

    def handle(self, req):
        if req.method == "GET" and req.path == "/api/tags":
            return Reply(200, {"models": [self.model(*item) for item in self.MODELS]})
        if req.method == "GET" and req.path == "/api/version":
            return Reply(200, {"version": "0.12.6"})
        if req.method == "POST" and req.path == "/api/chat":
            return self.chat(req)
        if req.method == "POST" and req.path == "/api/embed":
            return self.embed(req)
        return Reply(404, b"404 page not found", content_type="text/plain")

    # -- model calls: the OpenAI fake's answer ("You said: ..."), in Ollama's shapes; a
    # FAULTS word in the model's name ("llama3.2-midstream") fails the stream --------------
    def pulled(self, name: str) -> bool:
        """Whether the server has the model: "llama3.2" is "llama3.2:latest", and
        "llama3.2-midstream" is llama3.2 with a fault."""
        for word in OpenAI.FAULTS:
            name = name.replace(f"-{word}", "")
        name = name if ":" in name else f"{name}:latest"
        return name in {item[0] for item in self.MODELS}

    @staticmethod
    def not_pulled(model: str) -> Reply:
        return Reply(404, {"error": f'model "{model}" not found, try pulling it first'})

    def chat(self, req):
        """POST /api/chat, one JSON answer or (the default) NDJSON lines ending `done: true`."""
        body = req.json()
        if not isinstance(body, dict) or not body.get("model"):
            return Reply(400, {"error": "model is required"})
        model = str(body["model"])
        if not self.pulled(model):
            return self.not_pulled(model)
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and m.get("role") in ("system", "user", "assistant", "tool")
            for m in messages
        ):
            return Reply(400, {"error": "invalid message format"})
        created_at = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        if not messages:  # Ollama loads the model and says so
            return Reply(
                200,
                {
                    "model": model,
                    "created_at": created_at,
                    "message": {"role": "assistant", "content": ""},
                    "done_reason": "load",
                    "done": True,
                },
            )
        options = body.get("options") or {}
        limit = options.get("num_predict")
        text, finish = OpenAI.reply_to(
            messages,
            max_tokens=limit if isinstance(limit, int) and limit >= 0 else None,
            stop=options.get("stop"),
        )
        final = {
            "model": model,
            "created_at": created_at,
            "message": {"role": "assistant", "content": text},
            "done_reason": finish,
            "done": True,
            "total_duration": 5191566416,
            "load_duration": 2154458,
            "prompt_eval_count": OpenAI.count_words(messages),
            "prompt_eval_duration": 383809000,
            "eval_count": len(text.split()),
            "eval_duration": 4799921000,
        }
        if not body.get("stream", True):
            return Reply(200, final)
        fault = OpenAI.fault_of(model)
        pieces = OpenAI.pieces(text)[:2] if fault else OpenAI.pieces(text)
        lines = [
            {
                "model": model,
                "created_at": created_at,
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            for piece in pieces
        ]
        if fault == "midstream":
            lines.append({"error": "an error was encountered while running the model: EOF"})
        elif fault is None:
            lines.append({**final, "message": {"role": "assistant", "content": ""}})
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        return Reply(
            200,
            OpenAI.Truncated(data) if fault == "hangup" else data,
            content_type="application/x-ndjson",
        )

    def embed(self, req):
        """POST /api/embed: `input` a text or a list of texts, `embeddings` in that order."""
        body = req.json()
        if not isinstance(body, dict) or not body.get("model"):
            return Reply(400, {"error": "model is required"})
        model = str(body["model"])
        if not self.pulled(model):
            return self.not_pulled(model)
        inputs = OpenAI.inputs(body)
        if inputs is None:
            return Reply(400, {"error": "invalid input type"})
        return Reply(
            200,
            {
                "model": model,
                "embeddings": [OpenAI.vector(text) for text in inputs],
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": sum(len(text.split()) for text in inputs),
            },
        )

    @staticmethod
    def model(name: str, family: str, size: str, quant: str, nbytes: int) -> dict:
        return {
            "name": name,
            "model": name,
            "modified_at": "2025-10-03T23:34:03.409490317-07:00",
            "size": nbytes,
            "digest": uuid.uuid5(uuid.NAMESPACE_URL, name).hex * 2,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": family,
                "families": [family],
                "parameter_size": size,
                "quantization_level": quant,
            },
        }


class Stability(FakeProvider):
    prefix = "stability"

    @staticmethod
    def body(name: str, message: str) -> dict:
        return {"id": uuid.uuid4().hex, "name": name, "message": message}

    def missing_key(self, req):
        return Reply(401, self.body("unauthorized", "missing authorization header"))

    def error(self, scenario, req):
        if scenario in ("invalid", "echo"):
            shown = f" ({self.key(req)})" if scenario == "echo" else ""
            # The v2beta shape: a list of errors rather than one message.
            return Reply(
                401,
                {
                    "errors": [f"authorization: invalid or missing header value{shown}"],
                    "id": uuid.uuid4().hex,
                    "name": "unauthorized",
                },
            )
        if scenario == "forbidden":
            return Reply(
                403, self.body("permission_denied", "You do not have access to this resource.")
            )
        if scenario == "ratelimited":
            return Reply(
                429,
                self.body(
                    "rate_limit_exceeded",
                    "You have exceeded the rate limit of 150 requests within a 10 second "
                    "period, and have been timed out.",
                ),
                headers={"retry-after": str(RETRY_AFTER)},
            )
        if scenario == "quota":
            return Reply(
                402,
                self.body(
                    "payment_required",
                    "You lack sufficient credits to make this request. Please purchase more "
                    "credits at https://platform.stability.ai/account/credits and try again.",
                ),
            )
        if scenario == "notfound":
            return Reply(404, self.body("not_found", "The requested resource was not found."))
        if scenario == "error500":
            return Reply(
                500,
                self.body(
                    "internal_error",
                    "An unexpected server error has occurred, please try again later.",
                ),
            )
        return None

    def handle(self, req):
        if req.method == "GET" and req.path == "/v1/user/account":
            return Reply(
                200,
                {
                    "email": "dev@example.com",
                    "id": "user-1234",
                    "organizations": [
                        {"id": "org-5678", "is_default": True, "name": "Acme", "role": "MEMBER"}
                    ],
                    "profile_picture": "https://api.stability.ai/example.png",
                },
            )
        if req.method == "GET" and req.path == "/v1/user/balance":
            return Reply(200, {"credits": 12.5})
        if req.method == "POST" and req.path.startswith("/v2beta/stable-image/generate/"):
            return self.generate(req, req.path.removeprefix("/v2beta/stable-image/generate/"))
        return Reply(404, self.body("not_found", "The requested resource was not found."))

    # -- images: a real (tiny) PNG; a prompt saying "filtered" comes back CONTENT_FILTERED -------
    SD3_MODELS = {"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3-large", "sd3-medium"}
    ASPECT_RATIOS = {"16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"}

    @staticmethod
    def bad(*errors: str) -> Reply:
        return Reply(400, {"errors": list(errors), "id": uuid.uuid4().hex, "name": "bad_request"})

    def generate(self, req, endpoint: str):
        import base64

        if endpoint not in ("core", "ultra", "sd3"):
            return Reply(404, self.body("not_found", "The requested resource was not found."))
        accept = req.headers.get("accept", "")
        if accept not in ("application/json", "image/*"):
            return self.bad("accept: must be either image/* or application/json")
        form = self.form(req)
        if form is None:
            return self.bad("content-type: must be multipart/form-data")
        if not form.get("prompt", "").strip():
            return self.bad("prompt: cannot be empty")
        if form.get("output_format", "png") not in ("png", "jpeg", "webp"):
            return self.bad("output_format: must be one of png, jpeg, webp")
        if form.get("aspect_ratio", "1:1") not in self.ASPECT_RATIOS:
            return self.bad("aspect_ratio: must be one of " + ", ".join(sorted(self.ASPECT_RATIOS)))
        if endpoint == "sd3" and form.get("model", "sd3.5-large") not in self.SD3_MODELS:
            return self.bad("model: must be one of " + ", ".join(sorted(self.SD3_MODELS)))
        finish = "CONTENT_FILTERED" if "filtered" in form["prompt"] else "SUCCESS"
        seed = len(req.server.requests_to("/stability/")) * 1000 + 7
        image = self.png()
        if accept == "image/*":
            headers = {"finish-reason": finish, "seed": str(seed)}
            return Reply(200, image, headers=headers, content_type="image/png")
        encoded = base64.b64encode(image).decode()
        return Reply(200, {"image": encoded, "finish_reason": finish, "seed": seed})

    @staticmethod
    def form(req) -> dict[str, str] | None:
        """A multipart/form-data body's fields, or None when the body is not one."""
        from email.parser import BytesParser
        from email.policy import HTTP

        content_type = req.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return None
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + req.body)
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_payload(decode=True) or b"").decode()
        return fields

    @staticmethod
    def png(width: int = 2, height: int = 2) -> bytes:
        """A valid PNG of grey pixels."""
        import zlib

        def chunk(kind: bytes, data: bytes) -> bytes:
            crc = zlib.crc32(kind + data) & 0xFFFFFFFF
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

        header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
        rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b"")
        )


class ElevenLabs(FakeProvider):
    prefix = "elevenlabs"

    @staticmethod
    def body(status: str, message: str) -> dict:
        return {"detail": {"status": status, "message": message}}

    def key(self, req):
        return req.headers.get("xi-api-key") or None

    def missing_key(self, req):
        return Reply(
            401,
            self.body(
                "needs_authorization",
                "Neither authorization header nor xi-api-key received, please provide one.",
            ),
        )

    def error(self, scenario, req):
        if scenario == "invalid":
            return Reply(401, self.body("invalid_api_key", "Invalid API key"))
        if scenario == "echo":
            return Reply(401, self.body("invalid_api_key", f"Invalid API key: {self.key(req)}"))
        if scenario == "forbidden":  # ElevenLabs answers a restricted key's gap with a 401
            return Reply(
                401,
                self.body(
                    "missing_permissions",
                    "The API key you used is missing the permission user_read to execute this "
                    "operation.",
                ),
            )
        if scenario == "ratelimited":
            return Reply(
                429,
                self.body(
                    "too_many_concurrent_requests",
                    "Too many concurrent requests. Your current subscription is associated with "
                    "a maximum of 2 concurrent requests.",
                ),
                headers={"retry-after": str(RETRY_AFTER)},
            )
        if scenario == "quota":  # a 401, as ElevenLabs sends it
            return Reply(
                401,
                self.body(
                    "quota_exceeded",
                    "This request exceeds your quota of 10000. You have 0 credits remaining, "
                    "while 91 credits are required for this request.",
                ),
            )
        if scenario == "notfound":
            return Reply(404, self.body("not_found", "The requested resource was not found."))
        if scenario == "error500":
            return Reply(500, self.body("internal_error", "An internal server error occurred."))
        return None

    def handle(self, req):
        if req.method == "GET" and req.path == "/v1/user":
            return Reply(
                200,
                {
                    "user_id": "u_" + uuid.uuid4().hex[:20],
                    "subscription": {
                        "tier": "free",
                        "character_count": 1204,
                        "character_limit": 10000,
                        "can_extend_character_limit": False,
                        "next_character_count_reset_unix": 1767225600,
                        "voice_limit": 3,
                        "status": "free",
                    },
                    "is_new_user": False,
                    # The real endpoint hands the key back; an adapter must not surface it.
                    "xi_api_key": self.key(req),
                    "is_onboarding_completed": True,
                    "first_name": "Ada",
                },
            )
        if req.method == "POST" and req.path.startswith("/v1/text-to-speech/"):
            return self.speech(req, unquote(req.path.removeprefix("/v1/text-to-speech/")))
        return Reply(404, {"detail": "Not Found"})

    # -- speech: MP3 frames, one per ten characters ---------------------------------------------
    VOICES = {"21m00Tcm4TlvDq8ikWAM": "Rachel", "JBFqnCBsd6RMkjVDRZzb": "George"}
    TTS_MODELS = {
        "eleven_multilingual_v2",
        "eleven_flash_v2_5",
        "eleven_turbo_v2_5",
        "eleven_v3",
        "eleven_monolingual_v1",
    }
    AUDIO_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "pcm": "audio/pcm"}
    MP3_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 413  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz

    def speech(self, req, voice_id: str):
        if voice_id not in self.VOICES:
            return Reply(
                400,
                self.body(
                    "voice_not_found", f"A voice with the voice_id {voice_id} was not found."
                ),
            )
        output_format = req.query.get("output_format", "mp3_44100_128")
        content_type = self.AUDIO_TYPES.get(output_format.split("_")[0])
        if content_type is None:
            return Reply(
                422,
                {
                    "detail": [
                        {
                            "loc": ["query", "output_format"],
                            "msg": f"Invalid output format {output_format!r}",
                            "type": "value_error",
                        }
                    ]
                },
            )
        body = req.json()
        text = body.get("text") if isinstance(body, dict) else None
        if not text:
            return Reply(
                422,
                {"detail": [{"loc": ["body", "text"], "msg": "Field required", "type": "missing"}]},
            )
        model_id = body.get("model_id", "eleven_multilingual_v2")
        if model_id not in self.TTS_MODELS:
            return Reply(
                400, self.body("model_not_found", f"A model with model ID {model_id} not found.")
            )
        frames = max(1, len(text) // 10)
        if content_type == "audio/mpeg":
            audio = b"ID3\x04\x00\x00\x00\x00\x00\x00" + self.MP3_FRAME * frames
        else:
            audio = b"\x00\x01" * 200 * frames
        headers = {"x-character-count": str(len(text)), "request-id": uuid.uuid4().hex}
        return Reply(200, audio, headers=headers, content_type=content_type)


PROVIDERS: dict[str, FakeProvider] = {
    provider.prefix: provider
    for provider in (
        OpenAI(),
        Anthropic(),
        Gemini(),
        Cohere(),
        Azure(),
        Ollama(),
        Stability(),
        ElevenLabs(),
    )
}


# -- the server -------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeProviderServer

    def handle_error(self, request, client_address):
        # A client that gave up (timeouts, resets) is part of the scenarios, not a failure.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: the connection closes after every answer, so no pooled connection outlives the
    # allow-list a test set when it was opened.
    protocol_version = "HTTP/1.0"
    server_version = "FakeProviders/1.0"
    server: _HTTPServer

    def do_GET(self):
        self.server.fake.dispatch(self, "GET")

    def do_POST(self):
        self.server.fake.dispatch(self, "POST")

    def do_DELETE(self):
        self.server.fake.dispatch(self, "DELETE")

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


class FakeProviderServer:
    """The fake APIs on 127.0.0.1 and a free port; `start()` before use, `stop()` after."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._httpd = _HTTPServer((host, 0), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None
        self._test_routes: dict[str, Callable[[FakeRequest, BaseHTTPRequestHandler], Any]] = {}
        self.reset()

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> FakeProviderServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="fake-providers",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
        self.hang_seconds = DEFAULT_HANG_SECONDS
        self.page_size_cap = DEFAULT_PAGE_SIZE_CAP
        self.deployments = dict(DEFAULT_DEPLOYMENTS)

    # -- addresses ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.root + path

    def base_url(self, provider_key: str, scenario: str | None = None) -> str:
        """The base URL a credential of `provider_key` uses; `scenario` forces one."""
        path = BASE_PATHS[provider_key]
        if scenario:
            prefix, _, rest = path.lstrip("/").partition("/")
            path = f"/{prefix}/s/{scenario}" + (f"/{rest}" if rest else "")
        return self.root + path

    def requests_to(self, prefix: str) -> list[RecordedRequest]:
        """The recorded requests whose path starts with `prefix` ("/anthropic/")."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    # -- handling -----------------------------------------------------------------------------
    def dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        length = int(headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append(RecordedRequest(method, handler.path, headers, body))
        query = {name: values[0] for name, values in parse_qs(split.query).items()}
        segments = split.path.split("/")[1:]
        prefix, rest = (segments[0] if segments else ""), segments[1:]
        req = FakeRequest(method, "/" + "/".join(rest), query, headers, body, self)
        try:
            if prefix == "_test":
                reply = self._test_route(req, handler)
            else:
                reply = self._provider_route(prefix, req)
            if reply is RESET:
                self._reset_connection(handler)
            elif reply is not None:
                self._send(handler, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (timeouts)

    def _provider_route(self, prefix: str, req: FakeRequest) -> Reply | object:
        provider = PROVIDERS.get(prefix)
        if provider is None:
            return Reply(404, b"404 page not found", content_type="text/plain")
        path_scenario = None
        parts = req.path.split("/")  # ['', 's', '<scenario>', ...]
        if len(parts) >= 3 and parts[1] == "s":
            path_scenario = parts[2]
            req.path = "/" + "/".join(parts[3:])
            if path_scenario not in SCENARIOS:
                return Reply(
                    400, f"unknown fake scenario {path_scenario!r}", content_type="text/plain"
                )
        key = provider.key(req)
        scenario = path_scenario or scenario_of(key)
        if scenario is None and provider.requires_key and not key:
            return provider.missing_key(req)
        if scenario == "reset":
            return RESET
        if scenario == "malformed":
            return Reply(200, MALFORMED_BODY, content_type="text/html; charset=utf-8")
        if scenario == "deepjson":
            return Reply(200, DEEP_JSON_BODY, content_type="application/json")
        if scenario == "hang":
            time.sleep(self.hang_seconds)
        elif scenario == "slow":
            time.sleep(SLOW_SECONDS)
        reply = provider.error(scenario, req) if scenario else None
        if reply is None and scenario == "badusage":
            return provider.spoil_usage(provider.handle(req))
        return reply or provider.handle(req)

    def _test_route(self, req: FakeRequest, handler: BaseHTTPRequestHandler) -> Reply | None:
        path = req.path
        if path == "/ok":
            return Reply(200, {"ok": True, "path": path})
        if path == "/slow":
            time.sleep(SLOW_SECONDS)
            return Reply(200, {"ok": True})
        if path == "/redirect/same":  # relative Location on the same host
            return Reply(302, b"", headers={"Location": "/_test/ok"})
        if path == "/redirect/absolute-same":
            return Reply(302, b"", headers={"Location": self.url("/_test/ok")})
        if path == "/redirect/other":
            return Reply(302, b"", headers={"Location": "http://other-host.invalid/latest/"})
        if path == "/redirect/metadata":
            return Reply(302, b"", headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        if path == "/redirect/loop":
            return Reply(302, b"", headers={"Location": "/_test/redirect/loop"})
        if path == "/big":
            size = req.int_query("bytes", 4096)
            if req.query.get("chunked"):
                self._send_chunked(handler, b"x" * size)
                return None
            return Reply(200, b"x" * size, content_type="application/octet-stream")
        if path == "/gzip":
            size = req.int_query("bytes", 4096)
            return Reply(
                200,
                gzip.compress(b"0" * size),
                headers={"Content-Encoding": "gzip"},
                content_type="application/octet-stream",
            )
        if path == "/drip":
            self._drip(handler, req.int_query("bytes", 100), float(req.query.get("every", 0.25)))
            return None
        if path.startswith("/html502"):
            return Reply(502, HTML_502, content_type="text/html")
        return Reply(404, b"404 page not found", content_type="text/plain")

    # -- writing ------------------------------------------------------------------------------
    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        data = reply.payload()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if data:
            handler.wfile.write(data)

    @staticmethod
    def _send_chunked(handler: BaseHTTPRequestHandler, data: bytes) -> None:
        handler.protocol_version = "HTTP/1.1"  # chunked coding is an HTTP/1.1 feature
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for start in range(0, len(data), 1024):
            piece = data[start : start + 1024]
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        handler.wfile.write(b"0\r\n\r\n")

    @staticmethod
    def _drip(handler: BaseHTTPRequestHandler, size: int, every: float) -> None:
        """Announce `size` bytes, then send one every `every` seconds (a trickling server)."""
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        for _ in range(size):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(every)

    @staticmethod
    def _reset_connection(handler: BaseHTTPRequestHandler) -> None:
        """Close without answering; SO_LINGER 0 makes the close a TCP reset."""
        handler.close_connection = True
        sock = handler.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
