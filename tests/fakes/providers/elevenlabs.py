"""The ElevenLabs fake, under /elevenlabs (xi-api-key header).

It copies these pages of ElevenLabs' API reference (paths, bodies, error bodies, status codes):

- Text to speech (POST /v1/text-to-speech/{voice_id}; output_format, model_id, the
  x-character-count and request-id headers), and its streamed variant
  (POST /v1/text-to-speech/{voice_id}/stream: the same body, the audio sent chunked):
  https://elevenlabs.io/docs/api-reference/text-to-speech
  https://elevenlabs.io/docs/api-reference/text-to-speech/convert
  https://elevenlabs.io/docs/api-reference/text-to-speech/stream
- Get user info (GET /v1/user, which hands the key back in xi_api_key):
  https://elevenlabs.io/docs/api-reference/get-user-info
- Error bodies: {"detail": {"status", "message"}} (a quota or a missing permission is a
  401, as ElevenLabs sends it) and the 422 validation body {"detail": [{"loc", "msg",
  "type"}]}.
"""

from __future__ import annotations

import uuid
from urllib.parse import unquote

from tests.fakes.providers.base import RETRY_AFTER, FakeProvider, Reply


class ElevenLabs(FakeProvider):
    prefix = "elevenlabs"

    @staticmethod
    def body(status: str, message: str) -> dict:
        return {"detail": {"status": status, "message": message}}

    def key(self, req):
        return req.headers.get("xi-api-key") or None

    def missing_key(self, req):
        return Reply(
            401,
            self.body(
                "needs_authorization",
                "Neither authorization header nor xi-api-key received, please provide one.",
            ),
        )

    def error(self, scenario, req):
        if scenario == "invalid":
            return Reply(401, self.body("invalid_api_key", "Invalid API key"))
        if scenario == "echo":
            return Reply(401, self.body("invalid_api_key", f"Invalid API key: {self.key(req)}"))
        if scenario == "forbidden":  # ElevenLabs answers a restricted key's gap with a 401
            return Reply(
                401,
                self.body(
                    "missing_permissions",
                    "The API key you used is missing the permission user_read to execute this "
                    "operation.",
                ),
            )
        if scenario == "ratelimited":
            return Reply(
                429,
                self.body(
                    "too_many_concurrent_requests",
                    "Too many concurrent requests. Your current subscription is associated with "
                    "a maximum of 2 concurrent requests.",
                ),
                headers={"retry-after": str(RETRY_AFTER)},
            )
        if scenario == "quota":  # a 401, as ElevenLabs sends it
            return Reply(
                401,
                self.body(
                    "quota_exceeded",
                    "This request exceeds your quota of 10000. You have 0 credits remaining, "
                    "while 91 credits are required for this request.",
                ),
            )
        if scenario == "notfound":
            return Reply(404, self.body("not_found", "The requested resource was not found."))
        if scenario == "error500":
            return Reply(500, self.body("internal_error", "An internal server error occurred."))
        return None

    def handle(self, req):
        if req.method == "GET" and req.path == "/v1/user":
            return Reply(
                200,
                {
                    "user_id": "u_" + uuid.uuid4().hex[:20],
                    "subscription": {
                        "tier": "free",
                        "character_count": 1204,
                        "character_limit": 10000,
                        "can_extend_character_limit": False,
                        "next_character_count_reset_unix": 1767225600,
                        "voice_limit": 3,
                        "status": "free",
                    },
                    "is_new_user": False,
                    # The real endpoint hands the key back; an adapter must not surface it.
                    "xi_api_key": self.key(req),
                    "is_onboarding_completed": True,
                    "first_name": "Ada",
                },
            )
        if req.method == "POST" and req.path.startswith("/v1/text-to-speech/"):
            voice = req.path.removeprefix("/v1/text-to-speech/").removesuffix("/stream")
            return self.speech(req, unquote(voice))
        return Reply(404, {"detail": "Not Found"})

    # -- speech: MP3 frames, one per ten characters ---------------------------------------------
    VOICES = {"21m00Tcm4TlvDq8ikWAM": "Rachel", "JBFqnCBsd6RMkjVDRZzb": "George"}
    TTS_MODELS = {
        "eleven_multilingual_v2",
        "eleven_flash_v2_5",
        "eleven_turbo_v2_5",
        "eleven_v3",
        "eleven_monolingual_v1",
    }
    AUDIO_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "pcm": "audio/pcm"}
    MP3_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 413  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz

    def speech(self, req, voice_id: str):
        if voice_id not in self.VOICES:
            return Reply(
                400,
                self.body(
                    "voice_not_found", f"A voice with the voice_id {voice_id} was not found."
                ),
            )
        output_format = req.query.get("output_format", "mp3_44100_128")
        content_type = self.AUDIO_TYPES.get(output_format.split("_")[0])
        if content_type is None:
            return Reply(
                422,
                {
                    "detail": [
                        {
                            "loc": ["query", "output_format"],
                            "msg": f"Invalid output format {output_format!r}",
                            "type": "value_error",
                        }
                    ]
                },
            )
        body = req.json()
        text = body.get("text") if isinstance(body, dict) else None
        if not text:
            return Reply(
                422,
                {"detail": [{"loc": ["body", "text"], "msg": "Field required", "type": "missing"}]},
            )
        model_id = body.get("model_id", "eleven_multilingual_v2")
        if model_id not in self.TTS_MODELS:
            return Reply(
                400, self.body("model_not_found", f"A model with model ID {model_id} not found.")
            )
        frames = max(1, len(text) // 10)
        if content_type == "audio/mpeg":
            audio = b"ID3\x04\x00\x00\x00\x00\x00\x00" + self.MP3_FRAME * frames
        else:
            audio = b"\x00\x01" * 200 * frames
        headers = {"x-character-count": str(len(text)), "request-id": uuid.uuid4().hex}
        return Reply(200, audio, headers=headers, content_type=content_type)
