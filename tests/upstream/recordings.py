"""Recorded provider traffic for the pure adapter tests: answers (status, headers, body bytes)
and streams (their bytes as sent), in each provider's documented wire format. The texts carry
multi-byte characters, so a stream cut inside one is seen to decode whole.

Nothing here is sent anywhere: tests replay these to the adapters (tests/upstream/
test_recorded_exchanges.py, test_streams.py).
"""

from __future__ import annotations

import json

from upstream.http import Headers, Response

JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream; charset=utf-8"}


def answer(status: int, body, headers: dict | None = None) -> Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status=status, headers=Headers({**JSON, **(headers or {})}), content=content)


def sse(*events: dict | tuple[str, dict] | str, line_end: str = "\n") -> bytes:
    """Server-sent events: a dict is `data: {json}`, (name, dict) adds `event: name`, a str
    is sent as it is (`data: [DONE]`, a comment)."""
    out = []
    for event in events:
        if isinstance(event, str):
            out.append(event + line_end + line_end)
        elif isinstance(event, tuple):
            name, data = event
            out.append(f"event: {name}{line_end}data: {json.dumps(data)}{line_end}{line_end}")
        else:
            out.append(f"data: {json.dumps(event)}{line_end}{line_end}")
    return "".join(out).encode()


# -- OpenAI (and OpenAI-compatible servers) -----------------------------------------------------

OPENAI_CHAT = answer(
    200,
    {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Héllo! 👋", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 19, "completion_tokens": 4, "total_tokens": 23},
        "system_fingerprint": "fp_06737a9306",
    },
    {"x-ratelimit-remaining-requests": "499", "x-ratelimit-reset-requests": "120ms"},
)


def _openai_chunk(choices: list, usage=None) -> dict:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": choices,
        "usage": usage,
    }


def _delta(delta: dict, finish_reason=None) -> list:
    return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]


OPENAI_STREAM = sse(
    _openai_chunk(_delta({"role": "assistant", "content": "", "refusal": None})),
    _openai_chunk(_delta({"content": "Grüß"})),
    _openai_chunk(_delta({"content": " dich, 世界 🌍"})),
    _openai_chunk(_delta({}, "stop")),
    _openai_chunk([], {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}),
    "data: [DONE]",
)
OPENAI_STREAM_MIDSTREAM_ERROR = sse(
    _openai_chunk(_delta({"role": "assistant", "content": ""})),
    _openai_chunk(_delta({"content": "Grüß"})),
    {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    },
)
OPENAI_INVALID_KEY = answer(
    401,
    {
        "error": {
            "message": "Incorrect API key provided: sk-proj-********************7f3a. You can "
            "find your API key at https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    },
)
OPENAI_RATE_LIMITED = answer(
    429,
    {
        "error": {
            "message": "Rate limit reached for gpt-4o-mini in organization org-x on requests "
            "per min (RPM): Limit 3, Used 3, Requested 1.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    },
    {"retry-after": "20", "retry-after-ms": "19830"},
)

# -- Azure OpenAI --------------------------------------------------------------------------------

_FILTERS = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
AZURE_STREAM = sse(
    {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTERS}],
    },
    _openai_chunk(_delta({"role": "assistant", "content": ""})),
    _openai_chunk(_delta({"content": "Ça va ? 😊"})),
    _openai_chunk(_delta({}, "length")),
    _openai_chunk([], {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}),
    "data: [DONE]",
)
AZURE_DEPLOYMENT_NOT_FOUND = answer(
    404,
    {
        "error": {
            "code": "DeploymentNotFound",
            "message": "The API deployment for this resource does not exist. If you created the "
            "deployment within the last 5 minutes, please wait a moment and try again.",
        }
    },
)

# -- Anthropic -----------------------------------------------------------------------------------

ANTHROPIC_CHAT = answer(
    200,
    {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "Bonjour ☕"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 6},
    },
    {"anthropic-ratelimit-requests-remaining": "49", "request-id": "req_018EeWyXxfu5pfWkrYcMdjWG"},
)
_MESSAGE_START = {
    "type": "message_start",
    "message": {
        "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-sonnet-4-5-20250929",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    },
}
ANTHROPIC_STREAM = sse(
    ("message_start", _MESSAGE_START),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Bon"}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "jour ☕ – à bientôt"},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 6},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
)
ANTHROPIC_STREAM_OVERLOADED = sse(
    ("message_start", _MESSAGE_START),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Bon"}},
    ),
    ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
)
ANTHROPIC_LOW_CREDIT = answer(
    400,
    {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "Your credit balance is too low to access the Anthropic API. Please go to "
            "Plans & Billing to upgrade or purchase credits.",
        },
    },
)
ANTHROPIC_MODELS_PAGES = [
    answer(
        200,
        {
            "data": [
                {
                    "type": "model",
                    "id": "claude-sonnet-4-5-20250929",
                    "display_name": "Claude Sonnet 4.5",
                    "created_at": "2025-09-29T00:00:00Z",
                }
            ],
            "has_more": True,
            "first_id": "claude-sonnet-4-5-20250929",
            "last_id": "claude-sonnet-4-5-20250929",
        },
    ),
    answer(
        200,
        {
            "data": [
                {
                    "type": "model",
                    "id": "claude-haiku-4-5-20251001",
                    "display_name": "Claude Haiku 4.5",
                    "created_at": "2025-10-01T00:00:00Z",
                }
            ],
            "has_more": False,
            "first_id": "claude-haiku-4-5-20251001",
            "last_id": "claude-haiku-4-5-20251001",
        },
    ),
]

# -- Gemini --------------------------------------------------------------------------------------

GEMINI_CHAT = answer(
    200,
    {
        "candidates": [
            {
                "content": {"parts": [{"text": "Hallo, Welt 🌍"}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 4, "totalTokenCount": 12},
        "modelVersion": "gemini-2.0-flash",
        "responseId": "mV2xaO2zKZ7fz7IPq8bh6Ag",
    },
)


def _gemini_event(text: str, finish: str | None = None, usage: dict | None = None) -> dict:
    candidate: dict = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    event: dict = {"candidates": [candidate], "modelVersion": "gemini-2.0-flash"}
    if usage:
        event["usageMetadata"] = usage
    return event


# Google's event streams end their lines with CRLF.
GEMINI_STREAM = sse(
    _gemini_event("Hallo", usage={"promptTokenCount": 8, "totalTokenCount": 8}),
    _gemini_event(", Welt 🌍 – schön"),
    _gemini_event(
        "!",
        "STOP",
        {"promptTokenCount": 8, "candidatesTokenCount": 5, "totalTokenCount": 13},
    ),
    line_end="\r\n",
)
GEMINI_STREAM_CUT = sse(_gemini_event("Hallo"), line_end="\r\n")
_QUOTA_FAILURE = {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    "violations": [
        {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"},
            "quotaValue": "200",
        }
    ],
}
GEMINI_DAILY_QUOTA = answer(
    429,
    {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan and billing "
            "details.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                _QUOTA_FAILURE,
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "21s"},
            ],
        }
    },
)
GEMINI_BAD_KEY = answer(
    400,
    {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        }
    },
)

# -- Cohere --------------------------------------------------------------------------------------

COHERE_CHAT = answer(
    200,
    {
        "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "¡Hola! ✨"}]},
        "usage": {
            "billed_units": {"input_tokens": 5, "output_tokens": 3},
            "tokens": {"input_tokens": 71, "output_tokens": 3},
        },
    },
)
COHERE_STREAM = sse(
    (
        "message-start",
        {
            "id": "29f14a5a-11de-4cae-9800-25e4747408ea",
            "type": "message-start",
            "delta": {"message": {"role": "assistant", "content": [], "tool_plan": ""}},
        },
    ),
    (
        "content-start",
        {
            "type": "content-start",
            "index": 0,
            "delta": {"message": {"content": {"type": "text", "text": ""}}},
        },
    ),
    (
        "content-delta",
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "¡Ho"}}}},
    ),
    (
        "content-delta",
        {
            "type": "content-delta",
            "index": 0,
            "delta": {"message": {"content": {"text": "la! ✨ ¿Qué tal?"}}},
        },
    ),
    ("content-end", {"type": "content-end", "index": 0}),
    (
        "message-end",
        {
            "type": "message-end",
            "delta": {
                "finish_reason": "COMPLETE",
                "usage": {
                    "billed_units": {"input_tokens": 5, "output_tokens": 7},
                    "tokens": {"input_tokens": 71, "output_tokens": 7},
                },
            },
        },
    ),
)
COHERE_TRIAL_MONTH = answer(
    429,
    {
        "id": "b8b7b8c1-5b6e-4a8e-8b1e-7f1c1c6f6f6f",
        "message": "You are using a Trial key, which is limited to 1000 API calls / month. You "
        "can continue to use the Trial key for free or upgrade to a Production key with higher "
        "rate limits at 'https://dashboard.cohere.com/api-keys'.",
    },
)

# -- Ollama --------------------------------------------------------------------------------------

OLLAMA_CHAT = answer(
    200,
    {
        "model": "llama3.2",
        "created_at": "2025-01-23T18:58:34.113271Z",
        "message": {"role": "assistant", "content": "Hej då 🙂"},
        "done_reason": "stop",
        "done": True,
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 342546000,
        "eval_count": 4,
        "eval_duration": 4535599000,
    },
)


def _ollama_line(content: str, **extra) -> str:
    item = {
        "model": "llama3.2",
        "created_at": "2025-01-23T18:58:34.113271Z",
        "message": {"role": "assistant", "content": content},
        "done": False,
        **extra,
    }
    return json.dumps(item, ensure_ascii=False) + "\n"


OLLAMA_STREAM = (
    _ollama_line("Hej")
    + _ollama_line(" då 🙂, 日本")
    + _ollama_line(
        "",
        done=True,
        done_reason="stop",
        total_duration=4883583458,
        prompt_eval_count=26,
        eval_count=4,
    )
).encode()
OLLAMA_STREAM_ERROR = (
    _ollama_line("Hej") + json.dumps({"error": "an error was encountered while running the model"})
).encode()  # (the last line without its line end: the decoder gives it at the end)
OLLAMA_NOT_PULLED = answer(404, {"error": 'model "mistral" not found, try pulling it first'})

# -- ElevenLabs ----------------------------------------------------------------------------------

ELEVENLABS_AUDIO = Response(
    status=200,
    headers=Headers({"content-type": "audio/mpeg", "request-id": "b6e4c2a0"}),
    content=b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64" + bytes(range(64)),
)
ELEVENLABS_QUOTA = answer(
    401,
    {
        "detail": {
            "status": "quota_exceeded",
            "message": "This request exceeds your quota of 10000. You have 12 credits "
            "remaining, while 40 credits are required for this request.",
        }
    },
)

# -- Stability AI --------------------------------------------------------------------------------

STABILITY_IMAGE = answer(
    200,
    {"image": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB", "finish_reason": "SUCCESS", "seed": 343940597},
)
STABILITY_NO_CREDITS = answer(
    402,
    {
        "id": "4ee4b8d9d4ec1d5b7d4f6f0c3d2e1a0b",
        "name": "payment_required",
        "errors": ["You lack sufficient credits to make this request."],
    },
)
