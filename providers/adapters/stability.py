"""Stability AI: `GET {base_url}/v1/user/account` with a Bearer key, free, proves the key.

Errors are `{"id": ..., "name": "unauthorized", "message": "..."}` (v1) or `{"id": ...,
"name": ..., "errors": ["..."]}` (v2beta): the `name` is the machine word. 401 unauthorized,
402 payment_required (no credits) → QuotaExhausted, 429 rate_limit_exceeded → RateLimited,
403 content_moderation is about a prompt, not the key → BadRequest.

The API has no model list for the image models this console offers, so `list_models` checks
the key and returns the catalog's predefined models.
"""

from __future__ import annotations

from typing import Any

from .. import outbound
from ..errors import BadRequest, ProviderError, UpstreamError, scrub
from .base import DiscoveredModel, ProviderAdapter, plain_text


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/v1",)

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "Authorization": f"Bearer {credentials.get('api_key') or ''}",
        }

    def validate(self, credentials: dict[str, Any], *, model: str | None = None) -> None:
        body = self.call(
            "GET",
            f"{self.base_url(credentials)}/v1/user/account",
            credentials,
            headers=self.headers(credentials),
        )
        if not isinstance(body, dict):
            raise UpstreamError("unexpected answer (no account)")

    def list_models(self, credentials: dict[str, Any]) -> list[DiscoveredModel]:
        self.validate(credentials)
        return [DiscoveredModel(m.name, m.type, m.label) for m in self.provider.models]

    def error_text(self, response: outbound.ProviderResponse) -> str:
        body = _body(response)
        if body is None:
            return plain_text(response.text)
        if isinstance(body.get("errors"), list):
            return "; ".join(str(e) for e in body["errors"])
        return str(body.get("message") or body.get("name") or "")

    def error_kind(self, response: outbound.ProviderResponse) -> str:
        body = _body(response)
        return str(body.get("name") or "") if body else ""

    def classify(
        self, response: outbound.ProviderResponse, *, secrets: tuple[str, ...] = ()
    ) -> ProviderError:
        if response.status == 403 and self.error_kind(response) == "content_moderation":
            return BadRequest(scrub(self.error_text(response), secrets=secrets))
        return super().classify(response, secrets=secrets)


def _body(response: outbound.ProviderResponse) -> dict | None:
    try:
        body = response.json()
    except ProviderError:
        return None
    return body if isinstance(body, dict) else {}
