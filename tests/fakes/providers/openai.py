"""The OpenAI fake, under /openai: the API of OpenAI and of every OpenAI-compatible server
(Bearer key). The Azure OpenAI and Ollama fakes reuse its answers in their own envelopes.

It copies these pages of OpenAI's API reference (paths, bodies, error bodies, status codes):

- Models, list and retrieve (GET /v1/models, /v1/models/{model}):
  https://platform.openai.com/docs/api-reference/models/list
  https://platform.openai.com/docs/api-reference/models/retrieve
- Chat completions, whole and streamed (POST /v1/chat/completions; the chunk objects, the
  `stream_options.include_usage` chunk, `data: [DONE]`):
  https://platform.openai.com/docs/api-reference/chat/create
  https://platform.openai.com/docs/api-reference/chat-streaming
- Function calling (`tools`, `tool_choice`, `message.tool_calls`, finish_reason tool_calls,
  streamed tool-call deltas: index, id and name first, then argument fragments), structured
  outputs (`response_format` json_schema / json_object) and images (`image_url` parts):
  https://platform.openai.com/docs/guides/function-calling
  https://platform.openai.com/docs/guides/structured-outputs
  https://platform.openai.com/docs/guides/images-vision
- Embeddings (POST /v1/embeddings):
  https://platform.openai.com/docs/api-reference/embeddings/create
- Moderations (POST /v1/moderations):
  https://platform.openai.com/docs/api-reference/moderations/create
- Images (POST /v1/images/generations):
  https://platform.openai.com/docs/api-reference/images/create
- Audio: transcriptions (multipart; json, text and verbose_json with duration, language and
  segments; `usage` by duration for whisper-1, by tokens for the gpt-4o transcribe models,
  which refuse verbose_json) and speech (POST /v1/audio/transcriptions, /speech; the audio
  bytes in the requested format):
  https://platform.openai.com/docs/api-reference/audio/createTranscription
  https://platform.openai.com/docs/api-reference/audio/json-object
  https://platform.openai.com/docs/api-reference/audio/verbose-json-object
  https://platform.openai.com/docs/api-reference/audio/createSpeech
- Error bodies ({"error": {"message", "type", "param", "code"}}) and their status codes:
  https://platform.openai.com/docs/guides/error-codes
- The x-ratelimit-* headers every answer carries:
  https://platform.openai.com/docs/guides/rate-limits
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import unquote

from tests.fakes.providers import chat_surface
from tests.fakes.providers.base import RETRY_AFTER, FakeProvider, Reply, mask, scenario_of


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
        # The organisation's own fine-tunes, as /v1/models lists them (owned by the
        # organisation). The tests add these as custom models; a name not listed here is
        # "The model `…` does not exist", as OpenAI answers a fine-tune name with a typo.
        ("ft:gpt-4o-mini-2024-07-18:acme::9xQvR2Lp", 1727712000, "user-acme"),
        ("my-finetune", 1727712001, "user-acme"),
        ("canary-ft", 1727712002, "user-acme"),
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
            # As OpenAI answers a model the key cannot use (a fine-tune name with a typo).
            return Reply(
                404,
                self.body(
                    f"The model `{name}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                ),
            )
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
        text, finish, calls = self.chat_answer(body)
        prompt_tokens = self.count_words(body["messages"])
        if not body.get("stream"):
            return Reply(200, self.completion(model, text, finish, prompt_tokens, calls))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return self.stream(
            model,
            text,
            finish,
            prompt_tokens,
            include_usage=include_usage,
            fault=self.fault_of(model),
            calls=calls,
        )

    @classmethod
    def chat_answer(cls, body: dict) -> tuple[str, str, list]:
        """(text, finish reason, tool calls) for a chat request in OpenAI's shape: a tool
        call, a JSON answer or text (tests/fakes/providers/chat_surface.py)."""
        messages = body["messages"]
        last = messages[-1] if isinstance(messages[-1], dict) else {}
        user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        tools = [
            (t["function"]["name"], t["function"].get("parameters"))
            for t in body.get("tools") or []
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        ]
        choice = body.get("tool_choice")
        response_format = body.get("response_format") or {}
        decision = chat_surface.decide(
            user_text=chat_surface.text_of(user.get("content")),
            tool_result=chat_surface.text_of(last.get("content"))
            if last.get("role") == "tool"
            else None,
            tools=tools,
            forced=choice["function"]["name"] if isinstance(choice, dict) else None,
            no_tools=choice == "none",
            schema=(response_format.get("json_schema") or {}).get("schema")
            if response_format.get("type") == "json_schema"
            else None,
            json_mode=response_format.get("type") == "json_object",
        )
        if decision.kind == "tools":
            return "", "tool_calls", decision.calls
        if decision.text:
            return decision.text, "stop", []
        text, finish = cls.reply_to(
            messages,
            max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
            stop=body.get("stop"),
        )
        parts = user.get("content") if isinstance(user.get("content"), list) else []
        images = [p for p in parts if isinstance(p, dict) and p.get("type") == "image_url"]
        return chat_surface.with_images(text, len(images)), finish, []

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
            content = message.get("content")
            for number, part in enumerate(content if isinstance(content, list) else []):
                image = part.get("image_url") if isinstance(part, dict) else None
                url = image.get("url") if isinstance(image, dict) else None
                if part.get("type") == "image_url" and not (
                    isinstance(url, str) and url.startswith(("https://", "data:image/"))
                ):
                    return (
                        "Invalid image URL: expected a base64 data URL or an https URL.",
                        f"messages[{index}].content[{number}].image_url.url",
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
        text = "You said: " + " ".join(chat_surface.text_of(last.get("content")).split())
        for sequence in [stop] if isinstance(stop, str) else stop or []:
            if sequence and sequence in text:
                return text[: text.index(sequence)].rstrip(), "stop"
        words = text.split(" ")
        if max_tokens is not None and len(words) > max_tokens:
            return " ".join(words[:max_tokens]), "length"
        return text, "stop"

    @staticmethod
    def count_words(messages: list) -> int:
        return sum(len(chat_surface.text_of(m.get("content")).split()) for m in messages)

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

    @staticmethod
    def tool_calls_json(calls: list) -> list[dict]:
        return [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for call_id, name, arguments in calls
        ]

    @classmethod
    def completion(
        cls, model: str, text: str, finish: str, prompt_tokens: int, calls: list = ()
    ) -> dict:
        message = {
            "role": "assistant",
            "content": text or (None if calls else ""),
            "refusal": None,
            "annotations": [],
        }
        if calls:
            message["tool_calls"] = cls.tool_calls_json(list(calls))
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
        calls: list = (),
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
        events += [chunk([choice({"content": piece})]) for piece in pieces if text]
        for index, (call_id, name, arguments) in enumerate(calls):
            head = {"index": index, "id": call_id, "type": "function"}
            head["function"] = {"name": name, "arguments": ""}
            events.append(chunk([choice({"tool_calls": [head]})]))
            encoded = json.dumps(arguments)
            for start in range(0, len(encoded), 8):  # argument fragments, as OpenAI streams them
                fragment = {"index": index, "function": {"arguments": encoded[start : start + 8]}}
                events.append(chunk([choice({"tool_calls": [fragment]})]))
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
        model, fmt = fields["model"], fields.get("response_format") or "json"
        if fmt == "verbose_json" and not model.startswith("whisper"):
            return self.invalid(
                f"response_format 'verbose_json' is not compatible with model '{model}'. "
                "Use 'json' or 'text' instead.",
                "response_format",
            )
        seconds = self.audio_seconds(data)
        if fmt == "text":
            return Reply(200, text + "\n", content_type="text/plain; charset=utf-8")
        if model.startswith("whisper"):
            usage = {"type": "duration", "seconds": max(1, round(seconds))}
        else:
            audio_tokens = max(1, round(seconds * 10))
            words = len(text.split())
            usage = {
                "type": "tokens",
                "input_tokens": audio_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                "output_tokens": words,
                "total_tokens": audio_tokens + words,
            }
        if fmt == "verbose_json":
            return Reply(
                200,
                {
                    "task": "transcribe",
                    "language": {"en": "english", "fr": "french"}.get(
                        fields.get("language", "en"), "english"
                    ),
                    "duration": seconds,
                    "text": text,
                    "segments": [
                        {
                            "id": 0,
                            "seek": 0,
                            "start": 0.0,
                            "end": seconds,
                            "text": text,
                            "tokens": [50364, 50414],
                            "temperature": 0.0,
                            "avg_logprob": -0.2,
                            "compression_ratio": 1.0,
                            "no_speech_prob": 0.01,
                        }
                    ],
                    "usage": usage,
                },
            )
        return Reply(200, {"text": text, "usage": usage})

    @staticmethod
    def audio_seconds(data: bytes) -> float:
        """How long the upload plays: a WAV's own header says it; anything else is taken as
        128 kbit/s (16,000 bytes a second), as an MP3 of the voice would be."""
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) >= 44:
            byte_rate = int.from_bytes(data[28:32], "little")
            if byte_rate:
                return round((len(data) - 44) / byte_rate, 3)
        return round(len(data) / 16000, 3)

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
