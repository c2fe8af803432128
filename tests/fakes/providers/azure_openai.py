"""The Azure OpenAI fake, under /azure (api-key header, ?api-version=): the resource's model
list and its deployments' chat completions and embeddings, answered by the OpenAI fake's
helpers with Azure's content filter notes.

It copies these pages of Microsoft's Azure OpenAI documentation:

- The data-plane inference reference: chat completions and embeddings of a deployment
  (POST /openai/deployments/{deployment-id}/chat/completions | /embeddings), their bodies and
  error bodies ({"error": {"code", "message"}}, DeploymentNotFound, OperationNotSupported):
  https://learn.microsoft.com/en-us/azure/ai-services/openai/reference
- Models - List (GET /openai/models, capabilities and lifecycle):
  https://learn.microsoft.com/en-us/rest/api/azureopenai/models/list
- The API versions (AZURE_API_VERSIONS) and what arrived with which:
  https://learn.microsoft.com/en-us/azure/ai-services/openai/api-version-deprecation
- Content filter annotations (prompt_filter_results, content_filter_results):
  https://learn.microsoft.com/en-us/azure/ai-services/openai/concepts/content-filter
- Rate limits (429 with retry-after and retry-after-ms) and quota:
  https://learn.microsoft.com/en-us/azure/ai-services/openai/quotas-limits
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from tests.fakes.providers.base import RETRY_AFTER, FakeProvider, Reply
from tests.fakes.providers.openai import OpenAI

DEFAULT_DEPLOYMENTS = {"my-gpt-4o": "gpt-4o", "my-embedding": "text-embedding-3-small"}
AZURE_API_VERSIONS = {
    "2024-02-01",
    "2024-06-01",
    "2024-10-21",
    "2024-12-01-preview",
    "2025-01-01-preview",
    "2025-04-01-preview",
}


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
        text, finish, calls = OpenAI.chat_answer(body)
        prompt_tokens = OpenAI.count_words(body["messages"])
        if not body.get("stream"):
            reply = OpenAI.completion(model, text, finish, prompt_tokens, calls)
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
            calls=calls,
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
