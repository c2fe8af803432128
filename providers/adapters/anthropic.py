"""Anthropic: `GET {base_url}/v1/models` with `x-api-key` and `anthropic-version`.

Errors come as `{"type": "error", "error": {"type": "authentication_error", "message": ...}}`:
401 authentication_error, 403 permission_error, 404 not_found_error, 429 rate_limit_error (with
retry-after), 529 overloaded_error, 400 invalid_request_error. Two of them are about money, not
the request: a 400 whose message says the credit balance is too low, and a 429 whose
`error.details.error_code` is `enforced_spend_limit_reached` (the monthly spend limit; retrying
will not help). Both become QuotaExhausted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .. import outbound
from ..errors import ProviderError, QuotaExhausted, UpstreamError, scrub
from .base import DiscoveredModel, ProviderAdapter

API_VERSION = "2023-06-01"
PAGE_LIMIT = 1000  # the API's maximum page size
MAX_PAGES = 20


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/v1",)

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "x-api-key": str(credentials.get("api_key") or ""),
            "anthropic-version": API_VERSION,
        }

    def validate(self, credentials: dict[str, Any], *, model: str | None = None) -> None:
        base = self.base_url(credentials)
        if model:  # the model must exist for this key (aliases such as claude-sonnet-4-0 too)
            url = f"{base}/v1/models/{quote(model, safe='')}"
            self.call("GET", url, credentials, headers=self.headers(credentials))
        else:
            self.call(
                "GET",
                f"{base}/v1/models",
                credentials,
                headers=self.headers(credentials),
                params={"limit": 1},
            )

    def list_models(self, credentials: dict[str, Any]) -> list[DiscoveredModel]:
        def parse(item: Any) -> DiscoveredModel | None:
            if not isinstance(item, dict) or not item.get("id"):
                return None
            label = str(item.get("display_name") or "")
            return DiscoveredModel(name=str(item["id"]), type="llm", label=label)

        def next_params(body: dict, params: dict) -> dict | None:
            last_id = body.get("last_id")
            return (
                {"limit": PAGE_LIMIT, "after_id": last_id}
                if body.get("has_more") and last_id
                else None
            )

        return self.paged_models(
            f"{self.base_url(credentials)}/v1/models",
            credentials,
            params={"limit": PAGE_LIMIT},
            items="data",
            parse=parse,
            next_params=next_params,
            max_pages=MAX_PAGES,
        )

    def classify(
        self, response: outbound.ProviderResponse, *, secrets: tuple[str, ...] = ()
    ) -> ProviderError:
        kind = self.error_kind(response)
        detail = scrub(self.error_text(response), secrets=secrets)
        if response.status == 400 and "credit balance" in detail.lower():
            return QuotaExhausted(detail, hint="Buy credits under Plans & Billing in the Console.")
        if response.status == 429 and _error_code(response) == "enforced_spend_limit_reached":
            return QuotaExhausted(
                detail,
                hint="The organization reached its monthly spend limit; it resets next month or "
                "with a higher usage tier.",
            )
        if response.status == 529 or kind == "overloaded_error":
            return UpstreamError(
                f"HTTP {response.status}: {detail or 'overloaded'}",
                hint="Anthropic is overloaded for everyone right now, not just this key. "
                "Try again shortly.",
            )
        return super().classify(response, secrets=secrets)


def _error_code(response: outbound.ProviderResponse) -> str:
    try:
        body = response.json()
    except ProviderError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return str(details.get("error_code") or "") if isinstance(details, dict) else ""
