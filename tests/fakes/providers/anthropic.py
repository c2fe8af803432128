"""The Anthropic fake, under /anthropic (x-api-key and anthropic-version headers).

It copies these pages of Anthropic's API reference (paths, bodies, error bodies, status codes):

- Messages, whole and streamed (POST /v1/messages; message_start, content_block_*,
  message_delta, message_stop and error events):
  https://docs.anthropic.com/en/api/messages
  https://docs.anthropic.com/en/docs/build-with-claude/streaming
- Tool use (`tools` with `input_schema`, `tool_choice` auto/any/tool/none with
  `disable_parallel_tool_use`, `tool_use` and `tool_result` blocks, stop_reason tool_use, and
  streamed `input_json_delta` fragments), vision (`image` blocks, base64 and url sources) and
  extended thinking (`thinking.budget_tokens` under `max_tokens`):
  https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use
  https://docs.anthropic.com/en/docs/build-with-claude/streaming#streaming-request-with-tool-use
  https://docs.anthropic.com/en/docs/build-with-claude/vision
  https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking
- Models, list (after_id/limit pages, has_more, first_id, last_id) and get:
  https://docs.anthropic.com/en/api/models-list
  https://docs.anthropic.com/en/api/models
- Error bodies ({"type": "error", "error": {...}, "request_id"}), 429, 529 overloaded and the
  enforced spend limit:
  https://docs.anthropic.com/en/api/errors
- The anthropic-ratelimit-* and retry-after headers:
  https://docs.anthropic.com/en/api/rate-limits
- The required anthropic-version header:
  https://docs.anthropic.com/en/api/versioning
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote

from tests.fakes.providers import chat_surface
from tests.fakes.providers.base import RETRY_AFTER, FakeProvider, Reply, paginate, request_id


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
        calls = self.tool_calls(body)
        if calls:
            text, stop_reason, stop_sequence = "", "tool_use", None
        usage = {"input_tokens": self.input_tokens(body), "output_tokens": len(text.split())}
        message_id = "msg_" + uuid.uuid4().hex[:24]
        tool_blocks = [
            {"type": "tool_use", "id": call_id, "name": name, "input": arguments}
            for call_id, name, arguments in calls
        ]
        if not body.get("stream"):
            return Reply(
                200,
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": tool_blocks or [{"type": "text", "text": text}],
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
        events = [("message_start", {"type": "message_start", "message": start})]
        if tool_blocks:
            for index, block in enumerate(tool_blocks):
                opened = {**block, "input": {}}
                events.append(
                    (
                        "content_block_start",
                        {"type": "content_block_start", "index": index, "content_block": opened},
                    )
                )
                encoded = json.dumps(block["input"])
                for start_at in range(0, len(encoded), 8):
                    delta = {"type": "input_json_delta", "partial_json": encoded[start_at:][:8]}
                    events.append(
                        (
                            "content_block_delta",
                            {"type": "content_block_delta", "index": index, "delta": delta},
                        )
                    )
                events.append(
                    ("content_block_stop", {"type": "content_block_stop", "index": index})
                )
            events += [
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                        "usage": {"output_tokens": 9},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
            return self.sse(events)
        events += [
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
        return Anthropic.invalid_blocks(body)

    @staticmethod
    def invalid_blocks(body: dict) -> str | None:
        """Tool, image and thinking blocks as the API checks them."""
        used: set[str] = set()
        for index, message in enumerate(body["messages"]):
            content = message.get("content")
            for number, block in enumerate(content if isinstance(content, list) else []):
                where = f"messages.{index}.content.{number}"
                kind = block.get("type") if isinstance(block, dict) else None
                if kind == "image":
                    source = block.get("source") or {}
                    if source.get("type") == "base64":
                        if source.get("media_type") not in Anthropic.IMAGE_TYPES:
                            return f"{where}.image.source.base64.media_type: Input should be "
                        if not source.get("data"):
                            return f"{where}.image.source.base64.data: Field required"
                    elif source.get("type") != "url" or not source.get("url"):
                        return f"{where}.image.source: Input tag does not match"
                elif kind == "tool_use":
                    if not isinstance(block.get("input"), dict):
                        return f"{where}.tool_use.input: Input should be a valid dictionary"
                    used.add(block.get("id"))
                elif kind == "tool_result" and block.get("tool_use_id") not in used:
                    return (
                        f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{block.get('tool_use_id')}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
        if used and not body.get("tools"):
            return "Requests which include `tool_use` or `tool_result` blocks must define tools."
        for number, tool in enumerate(body.get("tools") or []):
            if not isinstance(tool.get("input_schema"), dict):
                return f"tools.{number}.custom.input_schema: Field required"
        thinking = body.get("thinking")
        if thinking:
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                return (
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                )
            if budget >= body["max_tokens"]:
                return "`max_tokens` must be greater than `thinking.budget_tokens`."
            if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
                return "Thinking may not be enabled when tool_choice forces tool use."
        return None

    IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")

    def tool_calls(self, body: dict) -> list:
        """The tool calls the fake model makes (tests/fakes/providers/chat_surface.py)."""
        last = body["messages"][-1]
        content = last["content"] if isinstance(last["content"], list) else []
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        if results or last["role"] != "user":
            return []
        choice = body.get("tool_choice") or {}
        decision = chat_surface.decide(
            user_text=self.text_of(last["content"]),
            tools=[(t["name"], t.get("input_schema")) for t in body.get("tools") or []],
            forced=choice.get("name") if choice.get("type") == "tool" else None,
            no_tools=choice.get("type") == "none",
        )
        if choice.get("disable_parallel_tool_use"):
            decision.calls = decision.calls[:1]
        return [
            ("toolu_" + call_id.removeprefix("call_"), name, arguments)
            for call_id, name, arguments in decision.calls
        ]

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
        content = last["content"] if isinstance(last["content"], list) else []
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        if results:
            result = results[-1].get("content")
            return f"Tool said: {self.text_of(result)}", "end_turn", None
        text = "You said: " + " ".join(self.text_of(last["content"]).split())
        images = [b for b in content if isinstance(b, dict) and b.get("type") == "image"]
        text = chat_surface.with_images(text, len(images))
        for stop in body.get("stop_sequences") or []:
            if stop in text:
                return text[: text.index(stop)].rstrip(), "stop_sequence", stop
        words = text.split(" ")
        limit = body["max_tokens"] - (body.get("thinking") or {}).get("budget_tokens", 0)
        if len(words) > limit:
            return " ".join(words[:limit]), "max_tokens", None
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
