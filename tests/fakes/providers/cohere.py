"""The Cohere fake, under /cohere (Bearer key).

It copies these pages of Cohere's API reference (paths, bodies, error bodies, status codes):

- Models, list (endpoint filter, page_size/page_token, next_page_token) and get
  (GET /v1/models[/{model}]):
  https://docs.cohere.com/reference/list-models
  https://docs.cohere.com/reference/get-model
- Chat v2, whole and streamed (POST /v2/chat; message-start, content-delta, message-end
  events, billed_units and tokens):
  https://docs.cohere.com/reference/chat
  https://docs.cohere.com/reference/chat-stream
- Tool use in v2 (`tools` in OpenAI's function shape, `tool_choice` REQUIRED/NONE,
  `strict_tools`, `message.tool_calls` with string arguments and a `tool_plan`, `tool`
  messages with `tool_call_id`, finish_reason TOOL_CALL; streamed as tool-plan-delta,
  tool-call-start, tool-call-delta and tool-call-end events), structured outputs
  (`response_format` json_object with `json_schema`), images (`image_url` parts) and
  reasoning (`thinking`):
  https://docs.cohere.com/docs/tool-use-overview
  https://docs.cohere.com/docs/tool-use-streaming
  https://docs.cohere.com/docs/structured-outputs
  https://docs.cohere.com/docs/image-inputs
  https://docs.cohere.com/docs/reasoning
- Embed v2 (POST /v2/embed):
  https://docs.cohere.com/reference/embed
- Rerank v2 (POST /v2/rerank: model, query, documents as strings, top_n; results of index and
  relevance_score, most relevant first; meta.billed_units.search_units, a search being a query
  with up to 100 documents):
  https://docs.cohere.com/reference/rerank
  https://docs.cohere.com/docs/rerank-overview
- Error bodies ({"id", "message"}) and their status codes (401, 402, 429, 499, 500), and the
  trial key limits:
  https://docs.cohere.com/reference/errors
  https://docs.cohere.com/docs/rate-limits
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote

from tests.fakes.providers import chat_surface
from tests.fakes.providers.base import RETRY_AFTER, FakeProvider, Reply, paginate


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
        if req.method == "POST" and req.path == "/v2/rerank":
            return self.rerank(req)
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
        "tool_choice",
        "strict_tools",
        "thinking",
        "logprobs",
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
        for index, message in enumerate(messages):
            if message["role"] == "tool" and not message.get("tool_call_id"):
                return self.invalid(f"messages[{index}].tool_call_id is required")
            if message["role"] == "assistant" and "tool_calls" in message:
                for call in message["tool_calls"]:
                    if not isinstance((call.get("function") or {}).get("arguments"), str):
                        return self.invalid("tool call arguments must be a string")
        choice = body.get("tool_choice")
        if choice is not None and choice not in ("REQUIRED", "NONE"):
            return self.invalid("tool_choice must be one of REQUIRED, NONE")
        response_format = body.get("response_format") or {}
        last = next((m for m in reversed(messages) if m["role"] == "user"), {})
        text = "You said: " + " ".join(chat_surface.text_of(last.get("content")).split())
        parts = last.get("content") if isinstance(last.get("content"), list) else []
        images = [p for p in parts if isinstance(p, dict) and p.get("type") == "image_url"]
        text = chat_surface.with_images(text, len(images))
        decision = chat_surface.decide(
            user_text=chat_surface.text_of(last.get("content")),
            tool_result=chat_surface.text_of(messages[-1].get("content"))
            if messages[-1]["role"] == "tool"
            else None,
            tools=[
                (t["function"]["name"], t["function"].get("parameters"))
                for t in body.get("tools") or []
            ],
            no_tools=choice == "NONE",
            schema=response_format.get("json_schema"),
            json_mode=response_format.get("type") == "json_object",
        )
        if decision.kind == "tools":
            return self.tool_calls(body, decision)
        if decision.text:
            text = decision.text
        finish = "COMPLETE"
        for stop in body.get("stop_sequences") or []:
            if stop in text:
                text, finish = text[: text.index(stop)].rstrip(), "STOP_SEQUENCE"
        words = text.split(" ")
        if body.get("max_tokens") and len(words) > body["max_tokens"]:
            text, finish = " ".join(words[: body["max_tokens"]]), "MAX_TOKENS"
        billed = {
            "input_tokens": sum(
                len(chat_surface.text_of(m.get("content")).split()) for m in messages
            ),
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

    def tool_calls(self, body: dict, decision) -> Reply:
        """The model calls tools: a tool plan, then each call (whole, or as v2's events)."""
        plan = "I will call the tools."
        calls = [
            {
                "id": call_id.replace("call_", "toolcall_"),
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for call_id, name, arguments in decision.calls
        ]
        usage = {"billed_units": {"input_tokens": 10, "output_tokens": 12}}
        message_id = str(uuid.uuid4())
        if not body.get("stream"):
            message = {"role": "assistant", "tool_plan": plan, "tool_calls": calls}
            return Reply(
                200,
                {
                    "id": message_id,
                    "finish_reason": "TOOL_CALL",
                    "message": message,
                    "usage": usage,
                },
            )
        start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}
        events = [("message-start", {"id": message_id, "delta": {"message": start}})]
        events += [
            ("tool-plan-delta", {"delta": {"message": {"tool_plan": word}}})
            for word in ("I will ", "call the ", "tools.")
        ]
        for index, call in enumerate(calls):
            opened = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
            events.append(
                ("tool-call-start", {"index": index, "delta": {"message": {"tool_calls": opened}}})
            )
            encoded = call["function"]["arguments"]
            for start_at in range(0, len(encoded), 8):
                piece = {"function": {"arguments": encoded[start_at : start_at + 8]}}
                events.append(
                    (
                        "tool-call-delta",
                        {"index": index, "delta": {"message": {"tool_calls": piece}}},
                    )
                )
            events.append(("tool-call-end", {"index": index}))
        end = {"finish_reason": "TOOL_CALL", "usage": usage}
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

    # -- rerank: a document's score is the share of the query's words it holds ----------------
    @staticmethod
    def relevance(query: str, document: str) -> float:
        words = {w.strip(".,?!").lower() for w in query.split()} - {""}
        held = {w.strip(".,?!").lower() for w in document.split()}
        return round(len(words & held) / len(words), 6) if words else 0.0

    def rerank(self, req):
        body = req.json()
        if not isinstance(body, dict):
            return self.invalid("body must be a JSON object")
        model = body.get("model")
        if not any(item[0] == model and "rerank" in item[1] for item in self.MODELS):
            return Reply(404, self.body(f"model '{model}' not found"))
        query, documents = body.get("query"), body.get("documents")
        if not isinstance(query, str) or not query:
            return self.invalid("query must be a non-empty string")
        if not isinstance(documents, list) or not documents:
            return self.invalid("documents must contain at least one document")
        if len(documents) > 1000:
            return self.invalid("too many documents, the maximum is 1000")
        texts = [d if isinstance(d, str) else (d or {}).get("text", "") for d in documents]
        top_n = body.get("top_n", len(texts))
        if not isinstance(top_n, int) or top_n < 1:
            return self.invalid("top_n must be a positive integer")
        order = sorted(range(len(texts)), key=lambda i: (-self.relevance(query, texts[i]), i))[
            :top_n
        ]
        return Reply(
            200,
            {
                "id": str(uuid.uuid4()),
                "results": [
                    {"index": i, "relevance_score": self.relevance(query, texts[i])} for i in order
                ],
                "meta": {
                    "api_version": {"version": "2"},
                    "billed_units": {"search_units": -(-len(texts) // 100)},
                },
            },
        )
