"""The Ollama fake, under /ollama (no key; Bearer when behind an auth proxy): the OpenAI
fake's answers in Ollama's own shapes.

It copies Ollama's API documentation, https://github.com/ollama/ollama/blob/main/docs/api.md:

- List local models (GET /api/tags) and Version (GET /api/version)
- Show model information (POST /api/show: `capabilities`, e.g. completion, tools, vision,
  thinking, embedding): https://github.com/ollama/ollama/blob/main/docs/api.md#show-model-information
- Generate a chat completion (POST /api/chat: one JSON answer, or NDJSON lines ending with
  `done: true`, `done_reason`, the eval counts and durations; "load" for no messages)
- Chat request with tools (`tools`, `message.tool_calls` with object arguments and no id, `tool`
  messages named by `tool_name`), structured outputs (`format`: "json" or a JSON schema),
  images (`images`: base64, no data-URL prefix) and thinking (`think`):
  https://github.com/ollama/ollama/blob/main/docs/api.md#chat-request-with-tools
  https://github.com/ollama/ollama/blob/main/docs/api.md#chat-request-structured-outputs
  https://github.com/ollama/ollama/blob/main/docs/api.md#chat-request-with-images
- Generate embeddings (POST /api/embed)
- Errors: {"error": "..."} bodies (a model not pulled is a 404; an error mid-stream is an
  NDJSON line with "error")
"""

from __future__ import annotations

import base64
import json
import time
import uuid

from tests.fakes.providers import chat_surface
from tests.fakes.providers.base import RETRY_AFTER, FakeProvider, Reply
from tests.fakes.providers.openai import OpenAI


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
    # /api/show's `capabilities` of each pulled model.
    CAPABILITIES = {
        "llama3.2:latest": ["completion", "tools"],
        "qwen2.5:7b": ["completion", "tools", "thinking"],
        "llava:13b": ["completion", "vision"],
        "nomic-embed-text:latest": ["embedding"],
        "all-minilm:latest": ["embedding"],
    }

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
        if req.method == "POST" and req.path == "/api/show":
            return self.show(req)
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

    def show(self, req):
        body = req.json()
        name = str(body.get("model") or "") if isinstance(body, dict) else ""
        if not self.pulled(name):
            return self.not_pulled(name)
        name = name if ":" in name else f"{name}:latest"
        details = next(item for item in self.MODELS if item[0] == name)
        return Reply(
            200,
            {
                "modelfile": "",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": {"format": "gguf", "family": details[1], "parameter_size": details[2]},
                "model_info": {"general.architecture": details[1]},
                "capabilities": self.CAPABILITIES[name],
            },
        )

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
        for message in messages:
            for image in message.get("images") or []:
                try:
                    base64.b64decode(image, validate=True)
                except ValueError:
                    return Reply(400, {"error": "illegal base64 data at input byte 4"})
            for call in message.get("tool_calls") or []:
                if not isinstance((call.get("function") or {}).get("arguments"), dict):
                    return Reply(400, {"error": "invalid tool call arguments"})
        options = body.get("options") or {}
        limit = options.get("num_predict")
        text, finish = OpenAI.reply_to(
            messages,
            max_tokens=limit if isinstance(limit, int) and limit >= 0 else None,
            stop=options.get("stop"),
        )
        last = messages[-1]
        user = next((m for m in reversed(messages) if m["role"] == "user"), {})
        text = chat_surface.with_images(text, len(user.get("images") or []))
        form = body.get("format")
        decision = chat_surface.decide(
            user_text=str(user.get("content") or ""),
            tool_result=str(last.get("content")) if last["role"] == "tool" else None,
            tools=[
                (t["function"]["name"], t["function"].get("parameters"))
                for t in body.get("tools") or []
            ],
            schema=form if isinstance(form, dict) else None,
            json_mode=form == "json",
        )
        calls = [
            {"function": {"name": name, "arguments": arguments}}
            for _, name, arguments in decision.calls
        ]
        if decision.text:
            text, finish = decision.text, "stop"
        if calls:
            text = ""
        final = {
            "model": model,
            "created_at": created_at,
            "message": {
                "role": "assistant",
                "content": text,
                **({"tool_calls": calls} if calls else {}),
            },
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
        if calls:  # Ollama sends the calls whole, in one line before the last
            pieces = []
        lines = [
            {
                "model": model,
                "created_at": created_at,
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            for piece in pieces
        ]
        if calls:
            message = {"role": "assistant", "content": "", "tool_calls": calls}
            lines.append(
                {"model": model, "created_at": created_at, "message": message, "done": False}
            )
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
