"""Google Gemini (AI Studio keys): `GET {base_url}/v1beta/models` with `x-goog-api-key`.

The key travels in the header, never in `?key=`, so it cannot land in URLs, logs or
redirect targets.

Errors are Google API errors: `{"error": {"code": 400, "message": ..., "status":
"INVALID_ARGUMENT", "details": [{"@type": ".../google.rpc.ErrorInfo", "reason":
"API_KEY_INVALID"}, ...]}}`. The machine word is `status` (and the ErrorInfo `reason`), not
`code`, which only repeats the HTTP status. A bad key is a 400 INVALID_ARGUMENT with an
API_KEY_* reason; a blocked key or project a 403 PERMISSION_DENIED.

A 429 RESOURCE_EXHAUSTED always says "You exceeded your current quota", per-minute limit or
not, so the message decides nothing. The google.rpc.QuotaFailure detail does: a violated
per-day quota (quotaId ...PerDay...) does not clear by waiting a moment and is QuotaExhausted;
anything else (requests or tokens per minute) is RateLimited, with the delay from Retry-After
or google.rpc.RetryInfo `retryDelay` ("7s").
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from .. import outbound
from ..errors import (
    AuthenticationFailed,
    BadRequest,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    scrub,
)
from .base import MAX_RETRY_AFTER, DiscoveredModel, ProviderAdapter, retry_after

PAGE_SIZE = 1000  # the API's maximum page size
MAX_PAGES = 20
EMBED_METHODS = {"embedContent", "batchEmbedContents", "asyncBatchEmbedContent", "embedText"}
CHAT_METHODS = {"generateContent", "streamGenerateContent"}
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_AUTH_REASONS = ("API_KEY_", "CONSUMER_SUSPENDED", "SERVICE_DISABLED", "ACCESS_TOKEN_")


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/v1beta", "/v1")

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "x-goog-api-key": str(credentials.get("api_key") or ""),
        }

    def validate(self, credentials: dict[str, Any], *, model: str | None = None) -> None:
        base = self.base_url(credentials)
        if model:
            resource = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
            url = f"{base}/v1beta/{quote(resource, safe='/')}"
            self.call("GET", url, credentials, headers=self.headers(credentials))
        else:
            self.call(
                "GET",
                f"{base}/v1beta/models",
                credentials,
                headers=self.headers(credentials),
                params={"pageSize": 1},
            )

    def list_models(self, credentials: dict[str, Any]) -> list[DiscoveredModel]:
        def next_params(body: dict, params: dict) -> dict | None:
            token = body.get("nextPageToken")
            return {"pageSize": PAGE_SIZE, "pageToken": token} if token else None

        return self.paged_models(
            f"{self.base_url(credentials)}/v1beta/models",
            credentials,
            params={"pageSize": PAGE_SIZE},
            items="models",
            parse=_discovered,
            next_params=next_params,
            max_pages=MAX_PAGES,
        )

    # -- errors -------------------------------------------------------------------------------
    def error_kind(self, response: outbound.ProviderResponse) -> str:
        error = _error(response)
        return str(error.get("status") or "") if error else ""

    def classify(
        self, response: outbound.ProviderResponse, *, secrets: tuple[str, ...] = ()
    ) -> ProviderError:
        status = response.status
        error = _error(response) or {}
        detail = scrub(self.error_text(response), secrets=secrets)
        reasons = [str(d.get("reason") or "") for d in _details(error, "ErrorInfo")]
        if any(reason.startswith(_AUTH_REASONS) for reason in reasons):
            hint = None
            if "SERVICE_DISABLED" in reasons:
                hint = "Enable the Generative Language API for the key's Google Cloud project."
            return AuthenticationFailed(detail or f"HTTP {status}", hint=hint)
        if status == 429:
            if _per_day_quota(error):
                return QuotaExhausted(
                    detail,
                    hint="The key's daily quota is used up; it resets at midnight Pacific time, "
                    "or enable billing for higher limits.",
                )
            return RateLimited(detail, retry_after=retry_after(response) or _retry_delay(error))
        if status == 400 and error.get("status") == "FAILED_PRECONDITION":
            return BadRequest(
                detail or "failed precondition",
                hint="The free tier is not available here: enable billing for the project in "
                "Google AI Studio.",
            )
        return super().classify(response, secrets=secrets)


def _discovered(item: Any) -> DiscoveredModel | None:
    if not isinstance(item, dict) or not item.get("name"):
        return None
    name = str(item["name"]).removeprefix("models/")
    methods = set(item.get("supportedGenerationMethods") or [])
    if methods & EMBED_METHODS:
        kind = "text-embedding"
    elif methods & CHAT_METHODS:
        kind = "llm"
    else:  # image (predict), video, question answering: not model types this console serves
        return None
    return DiscoveredModel(name=name, type=kind, label=str(item.get("displayName") or ""))


def _error(response: outbound.ProviderResponse) -> dict:
    try:
        body = response.json()
    except ProviderError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _details(error: dict, kind: str) -> list[dict]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    return [
        d for d in details if isinstance(d, dict) and str(d.get("@type", "")).endswith(f".{kind}")
    ]


def _per_day_quota(error: dict) -> bool:
    for failure in _details(error, "QuotaFailure"):
        for violation in failure.get("violations") or []:
            if isinstance(violation, dict) and "PerDay" in str(violation.get("quotaId", "")):
                return True
    return False


def _retry_delay(error: dict) -> float | None:
    for info in _details(error, "RetryInfo"):
        match = _DELAY.match(str(info.get("retryDelay") or ""))
        if match:
            return min(float(match.group(1)), MAX_RETRY_AFTER)
    return None
