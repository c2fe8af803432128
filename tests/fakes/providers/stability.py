"""The Stability AI fake, under /stability (Bearer key).

It copies Stability AI's API reference, https://platform.stability.ai/docs/api-reference:

- v1 User: account and balance (GET /v1/user/account, /v1/user/balance)
- v2beta Stable Image, generate: Core, Ultra and SD3 (POST
  /v2beta/stable-image/generate/core | ultra | sd3; multipart form, Accept image/* or
  application/json, the finish-reason and seed headers or fields, CONTENT_FILTERED)
- Error bodies: v1's {"id", "name", "message"} and v2beta's {"errors": [...], "id", "name"},
  with their status codes (400, 401, 402, 403, 404, 429, 500)
"""

from __future__ import annotations

import struct
import uuid

from tests.fakes.providers.base import RETRY_AFTER, FakeProvider, Reply


class Stability(FakeProvider):
    prefix = "stability"

    @staticmethod
    def body(name: str, message: str) -> dict:
        return {"id": uuid.uuid4().hex, "name": name, "message": message}

    def missing_key(self, req):
        return Reply(401, self.body("unauthorized", "missing authorization header"))

    def error(self, scenario, req):
        if scenario in ("invalid", "echo"):
            shown = f" ({self.key(req)})" if scenario == "echo" else ""
            # The v2beta shape: a list of errors rather than one message.
            return Reply(
                401,
                {
                    "errors": [f"authorization: invalid or missing header value{shown}"],
                    "id": uuid.uuid4().hex,
                    "name": "unauthorized",
                },
            )
        if scenario == "forbidden":
            return Reply(
                403, self.body("permission_denied", "You do not have access to this resource.")
            )
        if scenario == "ratelimited":
            return Reply(
                429,
                self.body(
                    "rate_limit_exceeded",
                    "You have exceeded the rate limit of 150 requests within a 10 second "
                    "period, and have been timed out.",
                ),
                headers={"retry-after": str(RETRY_AFTER)},
            )
        if scenario == "quota":
            return Reply(
                402,
                self.body(
                    "payment_required",
                    "You lack sufficient credits to make this request. Please purchase more "
                    "credits at https://platform.stability.ai/account/credits and try again.",
                ),
            )
        if scenario == "notfound":
            return Reply(404, self.body("not_found", "The requested resource was not found."))
        if scenario == "error500":
            return Reply(
                500,
                self.body(
                    "internal_error",
                    "An unexpected server error has occurred, please try again later.",
                ),
            )
        return None

    def handle(self, req):
        if req.method == "GET" and req.path == "/v1/user/account":
            return Reply(
                200,
                {
                    "email": "dev@example.com",
                    "id": "user-1234",
                    "organizations": [
                        {"id": "org-5678", "is_default": True, "name": "Acme", "role": "MEMBER"}
                    ],
                    "profile_picture": "https://api.stability.ai/example.png",
                },
            )
        if req.method == "GET" and req.path == "/v1/user/balance":
            return Reply(200, {"credits": 12.5})
        if req.method == "POST" and req.path.startswith("/v2beta/stable-image/generate/"):
            return self.generate(req, req.path.removeprefix("/v2beta/stable-image/generate/"))
        return Reply(404, self.body("not_found", "The requested resource was not found."))

    # -- images: a real (tiny) PNG; a prompt saying "filtered" comes back CONTENT_FILTERED -------
    SD3_MODELS = {"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3-large", "sd3-medium"}
    ASPECT_RATIOS = {"16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"}

    @staticmethod
    def bad(*errors: str) -> Reply:
        return Reply(400, {"errors": list(errors), "id": uuid.uuid4().hex, "name": "bad_request"})

    def generate(self, req, endpoint: str):
        import base64

        if endpoint not in ("core", "ultra", "sd3"):
            return Reply(404, self.body("not_found", "The requested resource was not found."))
        accept = req.headers.get("accept", "")
        if accept not in ("application/json", "image/*"):
            return self.bad("accept: must be either image/* or application/json")
        form = self.form(req)
        if form is None:
            return self.bad("content-type: must be multipart/form-data")
        if not form.get("prompt", "").strip():
            return self.bad("prompt: cannot be empty")
        if form.get("output_format", "png") not in ("png", "jpeg", "webp"):
            return self.bad("output_format: must be one of png, jpeg, webp")
        if form.get("aspect_ratio", "1:1") not in self.ASPECT_RATIOS:
            return self.bad("aspect_ratio: must be one of " + ", ".join(sorted(self.ASPECT_RATIOS)))
        if endpoint == "sd3" and form.get("model", "sd3.5-large") not in self.SD3_MODELS:
            return self.bad("model: must be one of " + ", ".join(sorted(self.SD3_MODELS)))
        finish = "CONTENT_FILTERED" if "filtered" in form["prompt"] else "SUCCESS"
        seed = len(req.server.requests_to("/stability/")) * 1000 + 7
        image = self.png()
        if accept == "image/*":
            headers = {"finish-reason": finish, "seed": str(seed)}
            return Reply(200, image, headers=headers, content_type="image/png")
        encoded = base64.b64encode(image).decode()
        return Reply(200, {"image": encoded, "finish_reason": finish, "seed": seed})

    @staticmethod
    def form(req) -> dict[str, str] | None:
        """A multipart/form-data body's fields, or None when the body is not one."""
        from email.parser import BytesParser
        from email.policy import HTTP

        content_type = req.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return None
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + req.body)
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_payload(decode=True) or b"").decode()
        return fields

    @staticmethod
    def png(width: int = 2, height: int = 2) -> bytes:
        """A valid PNG of grey pixels."""
        import zlib

        def chunk(kind: bytes, data: bytes) -> bytes:
            crc = zlib.crc32(kind + data) & 0xFFFFFFFF
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

        header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
        rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b"")
        )
