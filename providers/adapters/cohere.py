"""Cohere: `GET {base_url}/v1/models` with a Bearer key.

Errors are `{"id": ..., "message": "..."}`: 401 (no api key supplied, invalid api token,
expired key), 402 (billing limit reached or no payment method) → QuotaExhausted, 404 (model not
found), 429 (rate limit; trial keys are limited per minute) → RateLimited, 499 (request
cancelled; retrying is safe) and 500 → UpstreamError. 498 is the conventional "invalid token"
status older Cohere answers used → AuthenticationFailed. A trial key's monthly allowance
(the 429 "limited to 1000 API calls / month") does not clear by waiting a minute, so that one
429 is QuotaExhausted.

A model's `endpoints` say what it serves: chat → llm, embed → text-embedding, rerank → rerank
(`default_endpoints` first when present); models serving none of them are left out.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from .. import outbound
from ..errors import AuthenticationFailed, ProviderError, QuotaExhausted, UpstreamError, scrub
from .base import DiscoveredModel, ProviderAdapter

PAGE_SIZE = 1000
MAX_PAGES = 20
ENDPOINT_TYPES = (("chat", "llm"), ("embed", "text-embedding"), ("rerank", "rerank"))
_MONTHLY = re.compile(r"/\s*month|per month|a month|monthly", re.I)


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/v1", "/v2")

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "Authorization": f"Bearer {credentials.get('api_key') or ''}",
        }

    def validate(self, credentials: dict[str, Any], *, model: str | None = None) -> None:
        base = self.base_url(credentials)
        if model:
            url = f"{base}/v1/models/{quote(model, safe='')}"
            self.call("GET", url, credentials, headers=self.headers(credentials))
        else:
            self.call(
                "GET",
                f"{base}/v1/models",
                credentials,
                headers=self.headers(credentials),
                params={"page_size": 1},
            )

    def list_models(self, credentials: dict[str, Any]) -> list[DiscoveredModel]:
        def next_params(body: dict, params: dict) -> dict | None:
            token = body.get("next_page_token")
            return {"page_size": PAGE_SIZE, "page_token": token} if token else None

        return self.paged_models(
            f"{self.base_url(credentials)}/v1/models",
            credentials,
            params={"page_size": PAGE_SIZE},
            items="models",
            parse=_discovered,
            next_params=next_params,
            max_pages=MAX_PAGES,
        )

    def classify(
        self, response: outbound.ProviderResponse, *, secrets: tuple[str, ...] = ()
    ) -> ProviderError:
        detail = scrub(self.error_text(response), secrets=secrets)
        if response.status == 498:
            return AuthenticationFailed(detail or "invalid token")
        if response.status == 429 and _MONTHLY.search(detail):
            return QuotaExhausted(
                detail,
                hint="The trial key's monthly allowance is used up. Upgrade to a production key "
                "at dashboard.cohere.com.",
            )
        if response.status == 499:
            return UpstreamError(
                f"HTTP 499: {detail or 'request cancelled'}",
                hint="Cohere cancelled the request. Retrying is safe.",
            )
        return super().classify(response, secrets=secrets)


def _discovered(item: Any) -> DiscoveredModel | None:
    if not isinstance(item, dict) or not item.get("name"):
        return None
    for endpoints in (item.get("default_endpoints"), item.get("endpoints")):
        served = set(endpoints or [])
        for endpoint, kind in ENDPOINT_TYPES:
            if endpoint in served:
                return DiscoveredModel(name=str(item["name"]), type=kind)
    return None
