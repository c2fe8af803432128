"""The Gemini fake, under /gemini (x-goog-api-key header, or ?key=).

It copies these pages of the Gemini API reference (paths, bodies, error bodies, status codes):

- Models, list (pageSize/pageToken, nextPageToken) and get (GET /v1beta/models[/{model}]):
  https://ai.google.dev/api/models
- generateContent and streamGenerateContent (a JSON array, or server-sent events with
  ?alt=sse), finish reasons and safety ratings, usageMetadata:
  https://ai.google.dev/api/generate-content
- Function calling (`tools[].functionDeclarations`, `toolConfig.functionCallingConfig` with
  AUTO/ANY/NONE and `allowedFunctionNames`, `functionCall` parts answered by
  `functionResponse` parts; no call ids), structured output (`responseMimeType` with a
  `responseSchema` in the OpenAPI subset, which refuses keys it does not know), images
  (`inline_data` parts) and thinking (`thinkingConfig.thinkingBudget`, `thoughtsTokenCount`):
  https://ai.google.dev/gemini-api/docs/function-calling
  https://ai.google.dev/gemini-api/docs/structured-output
  https://ai.google.dev/gemini-api/docs/image-understanding
  https://ai.google.dev/gemini-api/docs/thinking
- batchEmbedContents:
  https://ai.google.dev/api/embeddings
- Error bodies ({"error": {"code", "message", "status", "details"}}) and their status codes
  (400 API_KEY_INVALID, 403 PERMISSION_DENIED, 429 RESOURCE_EXHAUSTED, 500 INTERNAL):
  https://ai.google.dev/gemini-api/docs/troubleshooting
  https://ai.google.dev/gemini-api/docs/rate-limits
- The google.rpc details in them (ErrorInfo, QuotaFailure, RetryInfo, Help, LocalizedMessage):
  https://cloud.google.com/apis/design/errors
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import unquote

from tests.fakes.providers import chat_surface
from tests.fakes.providers.base import FakeProvider, Reply, paginate


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
    SCHEMA_FIELDS = {
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
    CONFIG_FIELDS = {
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseSchema",
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
        problem = self.invalid_surface(body)
        if problem:
            return self.invalid(problem)
        last = next((c for c in reversed(contents) if c["role"] == "user"), None)
        text = "You said: " + " ".join(self.text_of(last).split()) if last else ""
        parts = last.get("parts") or [] if last else []
        images = [p for p in parts if isinstance(p, dict) and "inline_data" in p]
        text = chat_surface.with_images(text, len(images))
        responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
        declarations = [
            (d["name"], d.get("parameters"))
            for tool in body.get("tools") or []
            for d in tool.get("functionDeclarations") or []
        ]
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        allowed = calling.get("allowedFunctionNames") or []
        decision = chat_surface.decide(
            user_text=self.text_of(last),
            tool_result=str((responses[-1].get("response") or {}).get("result"))
            if responses
            else None,
            tools=declarations,
            forced=allowed[0] if len(allowed) == 1 else None,
            no_tools=calling.get("mode") == "NONE",
            schema=config.get("responseSchema"),
            json_mode=config.get("responseMimeType") == "application/json",
        )
        calls = [{"name": name, "args": args} for _, name, args in decision.calls]
        if decision.text:
            text = decision.text
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
        budget = (config.get("thinkingConfig") or {}).get("thinkingBudget")
        if budget:
            usage["thoughtsTokenCount"] = 7
            usage["totalTokenCount"] += 7
        if calls:
            answer = self.response(name, "", finish, usage)
            answer["candidates"][0]["content"]["parts"] = [{"functionCall": c} for c in calls]
            if not stream:
                return Reply(200, answer)
            chunks = [answer]  # Gemini streams a call whole
            if req.query.get("alt") != "sse":
                return Reply(200, chunks)
            data = "".join(f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in chunks)
            return Reply(200, data, content_type="text/event-stream")
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

    def invalid_surface(self, body: dict) -> str | None:
        """Parts, declarations and schemas as the API checks them."""
        for index, content in enumerate(body["contents"]):
            for number, part in enumerate(content.get("parts") or []):
                where = f"contents[{index}].parts[{number}]"
                if "inline_data" in part:
                    data = part["inline_data"]
                    if not str(data.get("mime_type") or "").startswith("image/"):
                        return f"* GenerateContentRequest.{where}.inline_data.mime_type: required"
                    try:
                        base64.b64decode(data.get("data") or "", validate=True)
                    except ValueError:
                        return f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES)"
                if "functionResponse" in part and not part["functionResponse"].get("name"):
                    return f"* GenerateContentRequest.{where}.function_response.name: required"
        config = body.get("generationConfig") or {}
        schemas = [("generation_config.response_schema", config.get("responseSchema"))]
        for tool in body.get("tools") or []:
            for declaration in tool.get("functionDeclarations") or []:
                schemas.append(
                    ("tools.function_declarations.parameters", declaration.get("parameters"))
                )
        for where, schema in schemas:
            unknown = self.unknown_schema_key(schema)
            if unknown:
                return (
                    f'Invalid JSON payload received. Unknown name "{unknown}" at '
                    f"'{where}': Cannot find field."
                )
        if config.get("responseSchema") and config.get("responseMimeType") != "application/json":
            return "responseSchema requires responseMimeType application/json"
        return None

    def unknown_schema_key(self, schema: Any) -> str | None:
        if not isinstance(schema, dict):
            return None
        for key, value in schema.items():
            if key not in self.SCHEMA_FIELDS:
                return key
            children = (
                value.values()
                if key == "properties"
                else [value]
                if key == "items"
                else value
                if key == "anyOf"
                else []
            )
            for child in children:
                unknown = self.unknown_schema_key(child)
                if unknown:
                    return unknown
        return None

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
