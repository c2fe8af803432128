"""Ollama: `GET {base_url}/api/tags` lists the models pulled on the server.

Ollama needs no key; when one is set (an Ollama behind an authenticating proxy) it is sent as a
Bearer token. Errors are `{"error": "..."}` (plain text "404 page not found" for unknown paths).
A custom model is valid only if the server has pulled it: "llama3.2" matches
"llama3.2:latest", as in Ollama itself; otherwise ModelNotAvailable says to `ollama pull` it.
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelNotAvailable, UpstreamError
from .base import DiscoveredModel, ProviderAdapter

EMBEDDING_FAMILIES = {"bert", "nomic-bert"}


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/api", "/v1")

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if credentials.get("api_key"):
            headers["Authorization"] = f"Bearer {credentials['api_key']}"
        return headers

    def validate(self, credentials: dict[str, Any], *, model: str | None = None) -> None:
        tags = self._tags(credentials)
        if not model:
            return
        wanted = _canonical(model)
        names = {_canonical(str(item.get(k) or "")) for item in tags for k in ("name", "model")}
        if wanted not in names:
            raise ModelNotAvailable(
                f"{model} is not pulled on this Ollama server",
                hint=f"Run `ollama pull {model}` on the server, then validate again.",
            )

    def list_models(self, credentials: dict[str, Any]) -> list[DiscoveredModel]:
        models = []
        for item in self._tags(credentials):
            name = str(item.get("name") or item.get("model") or "")
            if name:
                models.append(DiscoveredModel(name=name, type=_guess_type(item)))
        return models

    def _tags(self, credentials: dict[str, Any]) -> list[dict]:
        body = self.call(
            "GET",
            f"{self.base_url(credentials)}/api/tags",
            credentials,
            headers=self.headers(credentials),
        )
        if not isinstance(body, dict):
            raise UpstreamError("unexpected answer (no model list); is this an Ollama server?")
        return [item for item in body.get("models") or [] if isinstance(item, dict)]


def _canonical(name: str) -> str:
    """Ollama's default tag is "latest": "llama3.2" and "llama3.2:latest" are one model."""
    name = name.strip().lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _guess_type(item: dict) -> str:
    details = item.get("details") if isinstance(item.get("details"), dict) else {}
    name = str(item.get("name") or "").lower()
    if "embed" in name or str(details.get("family") or "").lower() in EMBEDDING_FAMILIES:
        return "text-embedding"
    return "llm"
