"""OpenAI and every OpenAI-compatible server: `GET {base_url}/models` with a Bearer key."""

from __future__ import annotations

from typing import Any

from .base import DiscoveredModel, ProviderAdapter

EMBEDDING_HINTS = ("embed",)


class Adapter(ProviderAdapter):
    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if credentials.get("api_key"):
            headers["Authorization"] = f"Bearer {credentials['api_key']}"
        if credentials.get("organization"):
            headers["OpenAI-Organization"] = str(credentials["organization"])
        return headers

    def validate(self, credentials: dict[str, Any], *, model: str | None = None) -> None:
        self.list_models(credentials)

    def list_models(self, credentials: dict[str, Any]) -> list[DiscoveredModel]:
        body = self.call(
            "GET",
            f"{self.base_url(credentials)}/models",
            credentials,
            headers=self.headers(credentials),
        )
        models = body.get("data", []) if isinstance(body, dict) else []
        return [
            DiscoveredModel(name=str(item["id"]), type=_guess_type(str(item["id"])))
            for item in models
            if isinstance(item, dict) and item.get("id")
        ]


def _guess_type(name: str) -> str:
    if any(hint in name for hint in EMBEDDING_HINTS):
        return "text-embedding"
    if name.startswith(("dall-e", "gpt-image")):
        return "image"
    if name.startswith("whisper") or "transcribe" in name:
        return "speech2text"
    if name.startswith("tts") or name.endswith("-tts"):
        return "tts"
    if "moderation" in name:
        return "moderation"
    return "llm"
