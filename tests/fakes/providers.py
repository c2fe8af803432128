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
but reports no requests left (x-ratelimit-remaining-requests: 0). Provider-specific ones:
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

    def key(self, req: FakeRequest) -> str | None:
        return req.bearer()

    def missing_key(self, req: FakeRequest) -> Reply:
        return self.error("invalid", req) or Reply(401, {"error": "unauthorized"})

    def error(self, scenario: str, req: FakeRequest) -> Reply | None:
        """The provider's answer for an error scenario, or None when it has no such error."""
        return None

    def handle(self, req: FakeRequest) -> Reply:
        raise NotImplementedError


class OpenAI(FakeProvider):
    prefix = "openai"
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
        return Reply(
            404,
            self.body(f"Invalid URL ({req.method} {req.path})", "invalid_request_error"),
        )


class Anthropic(FakeProvider):
    prefix = "anthropic"
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
        return Reply(404, self.body("not_found_error", "Not Found"))


class Gemini(FakeProvider):
    prefix = "gemini"
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
        if req.method == "GET" and req.path.startswith("/v1beta/models/"):
            name = unquote(req.path.removeprefix("/v1beta/models/"))
            for item in self.MODELS:
                if item[0] == name:
                    return Reply(200, self.model(item))
            return Reply(404, self.not_found(f"models/{name}"))
        return Reply(404, self.body(404, "NOT_FOUND", "Method not found."))


class Cohere(FakeProvider):
    prefix = "cohere"
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
        return Reply(404, self.body("Not Found"))


class Azure(FakeProvider):
    prefix = "azure"
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
                if not isinstance(body, dict) or not body.get("messages"):
                    return Reply(
                        400,
                        {
                            "error": {
                                "message": "'messages' is a required property",
                                "type": "invalid_request_error",
                                "param": None,
                                "code": None,
                            }
                        },
                    )
                return Reply(200, self.chat_completion(base_model))
            if operation == "embeddings":
                if not embedding:
                    return Reply(400, self.unsupported("embeddings", base_model))
                if not isinstance(body, dict) or not body.get("input"):
                    return Reply(400, self.body("BadRequest", "'input' is a required property"))
                return Reply(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {"object": "embedding", "index": 0, "embedding": [0.0023, -0.0093]}
                        ],
                        "model": base_model,
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    },
                )
        return Reply(404, self.body("404", "Resource not found"))

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

    @staticmethod
    def chat_completion(model: str) -> dict:
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:29],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": f"{model}-2024-08-06",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "length",
                    "message": {"role": "assistant", "content": "Pong"},
                }
            ],
            "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
            "system_fingerprint": "fp_b705f0c291",
        }


class Ollama(FakeProvider):
    """Ollama needs no key; the auth-flavoured scenarios model an authenticating (and metering)
    reverse proxy in front of it, which answers in Ollama's own {"error": "..."} shape."""

    prefix = "ollama"
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
        return Reply(404, b"404 page not found", content_type="text/plain")

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
        return Reply(404, self.body("not_found", "The requested resource was not found."))


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
        return Reply(404, {"detail": "Not Found"})


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
        if scenario == "hang":
            time.sleep(self.hang_seconds)
        elif scenario == "slow":
            time.sleep(SLOW_SECONDS)
        reply = provider.error(scenario, req) if scenario else None
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
