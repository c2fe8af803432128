"""ElevenLabs: `GET {base_url}/v1/user` with `xi-api-key`, free, proves the key.

Errors are `{"detail": {"status": "invalid_api_key", "message": "..."}}` (validation errors:
`{"detail": [{"msg": ...}]}`). The `status` word decides, not the HTTP status: ElevenLabs sends
a 401 for a bad key (invalid_api_key, needs_authorization), for a restricted key lacking a
permission (missing_permissions) and for used-up credits (quota_exceeded → QuotaExhausted).
too_many_concurrent_requests and system_busy are 429s → RateLimited.

The user endpoint's answer carries the key itself (`xi_api_key`); nothing of it is kept.

`list_models` checks the key and returns the catalog's predefined models (the catalog offers
no listing for this provider).

Speech: `POST /v1/text-to-speech/{voice_id}?output_format=mp3_44100_128` with `{text,
model_id}` answers the audio bytes themselves, so it reads the answer itself rather than
through the JSON helper; errors are still JSON and classified as above. Without a voice, Rachel
(a premade voice every account has) speaks. `audio_format` is mp3, opus or pcm, or one of
ElevenLabs' own output formats (mp3_22050_32, ulaw_8000...). `speak_stream` asks the
`/stream` variant of the same endpoint and hands the audio on as it arrives.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from ..calls import SpeechResult
from ..errors import (
    AuthenticationFailed,
    BadRequest,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    UpstreamError,
    scrub,
)
from ..http import Request, Response
from ..streams import AudioParser, OpenedStream
from .base import DiscoveredModel, Operation, ProviderAdapter, plain_text, retry_after

QUOTA_WORDS = {"quota_exceeded", "payment_required", "insufficient_credits"}
AUTH_WORDS = {"invalid_api_key", "needs_authorization", "api_key_revoked", "unauthorized"}
BUSY_WORDS = {"too_many_concurrent_requests", "system_busy", "rate_limit_exceeded"}
DEFAULT_VOICE = "21m00Tcm4TlvDq8ikWAM"  # Rachel, a premade voice
OUTPUT_FORMATS = {"mp3": "mp3_44100_128", "opus": "opus_48000_128", "pcm": "pcm_24000"}
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "pcm": "audio/pcm",
    "ulaw": "audio/basic",
    "alaw": "audio/x-alaw-basic",
}
_OUTPUT_FORMAT = re.compile(r"^(mp3|opus|pcm|ulaw|alaw)_\d+(_\d+)?$")


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/v1",)

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {"Accept": "application/json", "xi-api-key": str(credentials.get("api_key") or "")}

    def validate(
        self, credentials: dict[str, Any], *, model: str | None = None, recheck: bool = False
    ) -> Operation[str | None]:
        body = yield from self.get(f"{self.base_url(credentials)}/v1/user", credentials)
        if not isinstance(body, dict):
            raise UpstreamError("unexpected answer (no user)")

    def list_models(self, credentials: dict[str, Any]) -> Operation[list[DiscoveredModel]]:
        yield from self.validate(credentials)
        return [DiscoveredModel(m.name, m.type, m.label) for m in self.provider.models]

    def speak(
        self,
        credentials: dict[str, Any],
        model: str,
        text: str,
        *,
        voice: str = "",
        audio_format: str = "mp3",
    ) -> Operation[SpeechResult]:
        output_format = OUTPUT_FORMATS.get(audio_format) or audio_format
        if not _OUTPUT_FORMAT.match(output_format):
            raise BadRequest(f"ElevenLabs cannot speak in the format {audio_format!r}")
        voice_id = quote(voice or DEFAULT_VOICE, safe="")
        response = yield Request(
            "POST",
            f"{self.base_url(credentials)}/v1/text-to-speech/{voice_id}",
            headers={**self.headers(credentials), "Accept": "audio/*, application/json"},
            params={"output_format": output_format},
            json={"text": text, "model_id": model},
        )
        if response.status >= 400:
            raise self.classify(response, secrets=self.secrets(credentials))
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not response.content:
            raise UpstreamError("unexpected answer (no audio)")
        if not content_type.startswith("audio/"):
            if content_type not in ("", "application/octet-stream"):  # an HTML page, JSON...
                raise UpstreamError(f"unexpected answer ({content_type}, not audio)")
            content_type = CONTENT_TYPES[output_format.split("_")[0]]
        return SpeechResult(
            audio=response.content, content_type=content_type, model=model, headers=response.headers
        )

    def speak_stream(
        self,
        credentials: dict[str, Any],
        model: str,
        text: str,
        *,
        voice: str = "",
        audio_format: str = "mp3",
    ) -> Operation[OpenedStream]:
        """`POST /v1/text-to-speech/{voice_id}/stream`: the same body, the audio sent as it is
        made (chunked)."""
        output_format = OUTPUT_FORMATS.get(audio_format) or audio_format
        if not _OUTPUT_FORMAT.match(output_format):
            raise BadRequest(f"ElevenLabs cannot speak in the format {audio_format!r}")
        voice_id = quote(voice or DEFAULT_VOICE, safe="")
        head = yield from self.open_stream(
            f"{self.base_url(credentials)}/v1/text-to-speech/{voice_id}/stream",
            credentials,
            {"text": text, "model_id": model},
            stream="bytes",
            headers={**self.headers(credentials), "Accept": "audio/*, application/json"},
            params={"output_format": output_format},
        )
        content_type = head.content_type
        if not content_type.startswith("audio/"):
            if content_type not in ("", "application/octet-stream"):
                raise UpstreamError(f"unexpected answer ({content_type}, not audio)")
            content_type = CONTENT_TYPES[output_format.split("_")[0]]
        return OpenedStream(
            "bytes", AudioParser(), {**head.headers, "content-type": content_type}, model
        )

    def error_text(self, response: Response) -> str:
        detail = _detail(response)
        if detail is None:
            return plain_text(response.text)
        if isinstance(detail, dict):
            return str(detail.get("message") or detail.get("status") or "")
        if isinstance(detail, list):
            return "; ".join(
                str(item.get("msg") or "") for item in detail if isinstance(item, dict)
            )
        return str(detail)

    def error_kind(self, response: Response) -> str:
        detail = _detail(response)
        return str(detail.get("status") or "") if isinstance(detail, dict) else ""

    def classify(self, response: Response, *, secrets: tuple[str, ...] = ()) -> ProviderError:
        kind = self.error_kind(response)
        detail = scrub(self.error_text(response), secrets=secrets)
        if kind in QUOTA_WORDS:
            return QuotaExhausted(detail)
        if kind == "missing_permissions":
            return AuthenticationFailed(
                detail,
                hint="The key is restricted: give it read access to User in the ElevenLabs "
                "API key settings, or use an unrestricted key.",
            )
        if kind in AUTH_WORDS:
            return AuthenticationFailed(detail)
        if kind in BUSY_WORDS or response.status == 429:
            return RateLimited(detail, retry_after=retry_after(response))
        return super().classify(response, secrets=secrets)


def _detail(response: Response) -> Any:
    try:
        body = response.json()
    except ProviderError:
        return None
    return body.get("detail") if isinstance(body, dict) else ""
