"""Azure OpenAI: every request carries `api-key` and `?api-version=`.

Without a deployment, validation is `GET {base_url}/openai/models`, free, proving the key and the
endpoint. A custom model is a deployment (`deployment` credential value, else the `model`
argument); it is validated with the cheapest real call it accepts: a chat completion with
`max_tokens: 1` for a chat base model, an embedding of one word for an embedding base model
(`base_model` decides).

Errors are `{"error": {"code": "401" | "DeploymentNotFound" | ..., "message": ...}}`: 401 bad key
or wrong regional endpoint, 403 network rules (or "Out of call volume quota" →
QuotaExhausted), 404 DeploymentNotFound → ModelNotAvailable, 429 with retry-after(-ms) →
RateLimited (its message links aka.ms/oai/quotaincrease, which says nothing about quota being
gone), 400 OperationNotSupported when the deployment runs another kind of model.

`list_models` returns the resource's base models from /openai/models (chat and embedding
ones). They are not deployments, which is why the catalog entry does not offer listing.

Chat and embeddings go to `{endpoint}/openai/deployments/{deployment}/...?api-version=` in the
OpenAI wire format (`openai.py`). A stream may open with a chunk of content-filter notes and no
`choices`, which the shared parser skips; API versions before 2024-09-01 refuse
`stream_options`, so their streams report no usage.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from ..calls import ChatRequest, ChatResult, EmbeddingResult
from ..errors import BadRequest, ModelNotAvailable, ProviderError, QuotaExhausted, scrub
from ..http import Request, Response
from ..streams import OpenedStream
from .base import DiscoveredModel, Operation, ProviderAdapter
from .openai import (
    OPENAI_CHAT_OPTIONS,
    ChatChunks,
    chat_body,
    chat_result,
    embedding_result,
    max_tokens_name,
)

DEFAULT_API_VERSION = "2024-10-21"
# The first API version that accepts `stream_options` (usage at the end of a stream).
STREAM_USAGE_SINCE = "2024-09-01"
EMBEDDING_PREFIXES = ("text-embedding", "embed")
_OPENAI_PATH = re.compile(r"/openai(?=/|$)", re.I)


class Adapter(ProviderAdapter):
    # The OpenAI wire format: every option, and unknown fields, pass through to the deployment.
    chat_options = OPENAI_CHAT_OPTIONS
    message_names = True
    tool_arguments_as_objects = False

    def base_url(self, credentials: dict[str, Any]) -> str:
        """The resource endpoint: a pasted ".../openai/deployments/x/chat/completions?..." is cut
        back to "https://NAME.openai.azure.com"."""
        url = super().base_url(credentials)
        parts = urlsplit(url)
        match = _OPENAI_PATH.search(parts.path)
        path = parts.path[: match.start()] if match else parts.path
        return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/"), "", ""))

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {"Accept": "application/json", "api-key": str(credentials.get("api_key") or "")}

    def params(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {"api-version": str(credentials.get("api_version") or DEFAULT_API_VERSION)}

    def deployment_url(self, credentials: dict[str, Any], model: str | None, operation: str) -> str:
        """The deployment is the credential's `deployment` value, else the model's name."""
        deployment = str(credentials.get("deployment") or model or "").strip()
        if not deployment:
            raise BadRequest("the deployment name is missing")
        return (
            f"{self.base_url(credentials)}/openai/deployments/{quote(deployment, safe='')}"
            f"/{operation}"
        )

    def validate(
        self, credentials: dict[str, Any], *, model: str | None = None, recheck: bool = False
    ) -> Operation[str | None]:
        if not str(credentials.get("deployment") or model or "").strip():
            yield from self._models(credentials)
            return
        if _is_embedding(credentials.get("base_model")):
            url, body = self.deployment_url(credentials, model, "embeddings"), {"input": "ping"}
        else:
            url = self.deployment_url(credentials, model, "chat/completions")
            body = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
        yield from self.call(
            Request(
                "POST",
                url,
                headers=self.headers(credentials),
                params=self.params(credentials),
                json=body,
            ),
            credentials,
        )

    def list_models(self, credentials: dict[str, Any]) -> Operation[list[DiscoveredModel]]:
        models = []
        for item in (yield from self._models(credentials)):
            capabilities = item.get("capabilities") or {}
            if not isinstance(capabilities, dict):
                continue
            if capabilities.get("chat_completion"):
                kind = "llm"
            elif capabilities.get("embeddings"):
                kind = "text-embedding"
            else:
                continue
            models.append(DiscoveredModel(name=str(item["id"]), type=kind))
        return models

    # -- model calls --------------------------------------------------------------------------
    def chat(self, credentials: dict[str, Any], request: ChatRequest) -> Operation[ChatResult]:
        body, headers = yield from self.post(
            self.deployment_url(credentials, request.model, "chat/completions"),
            credentials,
            self._chat_body(credentials, request, stream=False),
            params=self.params(credentials),
        )
        return chat_result(body, headers, provider=self.provider.key)

    def chat_stream(
        self, credentials: dict[str, Any], request: ChatRequest
    ) -> Operation[OpenedStream]:
        head = yield from self.open_stream(
            self.deployment_url(credentials, request.model, "chat/completions"),
            credentials,
            self._chat_body(credentials, request, stream=True),
            params=self.params(credentials),
            headers={**self.headers(credentials), "Accept": "text/event-stream"},
        )
        return OpenedStream(
            format="sse",
            parser=ChatChunks(secrets=self.secrets(credentials), provider=self.provider.key),
            headers=head.headers,
            model=request.model,
        )

    def embed(
        self, credentials: dict[str, Any], model: str, inputs: list[str]
    ) -> Operation[EmbeddingResult]:
        body, headers = yield from self.post(
            self.deployment_url(credentials, model, "embeddings"),
            credentials,
            {"input": list(inputs)},
            params=self.params(credentials),
        )
        return embedding_result(body, headers, model=model, provider=self.provider.key)

    def _chat_body(
        self, credentials: dict[str, Any], request: ChatRequest, *, stream: bool
    ) -> dict[str, Any]:
        version = self.params(credentials)["api-version"]
        return chat_body(
            request,
            stream=stream,
            include_usage=version >= STREAM_USAGE_SINCE,
            max_tokens_field=max_tokens_name(str(credentials.get("base_model") or request.model)),
        )

    def _models(self, credentials: dict[str, Any]) -> Operation[list[dict]]:
        body = yield from self.get(
            f"{self.base_url(credentials)}/openai/models",
            credentials,
            params=self.params(credentials),
        )
        data = body.get("data") if isinstance(body, dict) else None
        return [item for item in data or [] if isinstance(item, dict) and item.get("id")]

    def classify(self, response: Response, *, secrets: tuple[str, ...] = ()) -> ProviderError:
        status = response.status
        kind = self.error_kind(response)
        detail = scrub(self.error_text(response), secrets=secrets)
        if status == 403 and "quota" in detail.lower():
            return QuotaExhausted(detail)
        if status == 404 and kind == "DeploymentNotFound":
            return ModelNotAvailable(
                detail,
                hint="Check the deployment name in Azure AI Foundry (it can differ from the "
                "model name). A new deployment can take 5 minutes to answer.",
            )
        if status == 400 and kind == "OperationNotSupported":
            return BadRequest(
                detail,
                hint="The deployment runs a different kind of model than the Base Model chosen.",
            )
        if status == 401:
            error = super().classify(response, secrets=secrets)
            error.hint = (
                "Check the key (KEY 1 or KEY 2) and that the endpoint URL is this resource's, "
                "from the same Keys and Endpoint page."
            )
            return error
        return super().classify(response, secrets=secrets)


def _is_embedding(base_model: Any) -> bool:
    return str(base_model or "").lower().startswith(EMBEDDING_PREFIXES)
