"""Stability AI: `GET {base_url}/v1/user/account` with a Bearer key, free, proves the key.

Errors are `{"id": ..., "name": "unauthorized", "message": "..."}` (v1) or `{"id": ...,
"name": ..., "errors": ["..."]}` (v2beta): the `name` is the machine word. 401 unauthorized,
402 payment_required (no credits) → QuotaExhausted, 429 rate_limit_exceeded → RateLimited,
403 content_moderation is about a prompt, not the key → BadRequest.

The API has no model list for the image models this console offers, so `list_models` checks
the key and returns the catalog's predefined models.

Images come from the v2beta Stable Image API: `POST /v2beta/stable-image/generate/{core,ultra,
sd3}` (sd3 names the model in the form: sd3.5-large, sd3.5-medium...), a multipart form, with
`Accept: application/json` so the answer is `{"image": <base64>, "finish_reason", "seed"}`.
One call makes one image, so `n` images are `n` calls. An answer whose finish_reason is
CONTENT_FILTERED carries a blurred image; that is a refused prompt (BadRequest), not a picture.
The v1 SDXL engine is not served here.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..calls import ImageResult
from ..errors import BadRequest, NotSupported, ProviderError, UpstreamError, scrub
from ..http import Response
from .base import DiscoveredModel, Operation, ProviderAdapter, plain_text

ENDPOINTS = {"stable-image-core": "core", "stable-image-ultra": "ultra"}
ASPECT_RATIOS = ("21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21")
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


class Adapter(ProviderAdapter):
    base_url_suffixes = ("/v1",)

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "Authorization": f"Bearer {credentials.get('api_key') or ''}",
        }

    def validate(
        self, credentials: dict[str, Any], *, model: str | None = None, recheck: bool = False
    ) -> Operation[str | None]:
        body = yield from self.get(f"{self.base_url(credentials)}/v1/user/account", credentials)
        if not isinstance(body, dict):
            raise UpstreamError("unexpected answer (no account)")

    def list_models(self, credentials: dict[str, Any]) -> Operation[list[DiscoveredModel]]:
        yield from self.validate(credentials)
        return [DiscoveredModel(m.name, m.type, m.label) for m in self.provider.models]

    def generate_image(
        self,
        credentials: dict[str, Any],
        model: str,
        prompt: str,
        *,
        n: int = 1,
        size: str = "",
        response_format: str = "",
    ) -> Operation[ImageResult]:
        # Stability answers base64 only (with Accept: application/json); a URL is the caller's.
        endpoint = ENDPOINTS.get(model) or ("sd3" if model.startswith("sd3") else None)
        if endpoint is None:
            raise NotSupported(f"{model} is not a Stable Image model this console can call")
        url = f"{self.base_url(credentials)}/v2beta/stable-image/generate/{endpoint}"
        form = {"prompt": prompt, "output_format": "png"}
        if endpoint == "sd3":
            form["model"] = model
        if size:
            form["aspect_ratio"] = aspect_ratio(size)
        # (None, value) parts are plain form fields; passing them as files makes it multipart.
        files = {name: (None, value) for name, value in form.items()}
        images, headers = [], {}
        for _ in range(max(1, n)):
            body, headers = yield from self.post(url, credentials, None, files=files)
            if not isinstance(body, dict) or not body.get("image"):
                raise UpstreamError("unexpected answer (no image)")
            if body.get("finish_reason") == "CONTENT_FILTERED":
                raise BadRequest(
                    "the image was withheld by content moderation",
                    hint="Stability's moderation blurred the result. Rephrase the prompt.",
                )
            images.append({"b64_json": str(body["image"])})
        return ImageResult(images=images, model=model, headers=headers)

    def error_text(self, response: Response) -> str:
        body = _body(response)
        if body is None:
            return plain_text(response.text)
        if isinstance(body.get("errors"), list):
            return "; ".join(str(e) for e in body["errors"])
        return str(body.get("message") or body.get("name") or "")

    def error_kind(self, response: Response) -> str:
        body = _body(response)
        return str(body.get("name") or "") if body else ""

    def classify(self, response: Response, *, secrets: tuple[str, ...] = ()) -> ProviderError:
        if response.status == 403 and self.error_kind(response) == "content_moderation":
            return BadRequest(scrub(self.error_text(response), secrets=secrets))
        return super().classify(response, secrets=secrets)


def aspect_ratio(size: str) -> str:
    """The supported aspect ratio nearest to a "WIDTHxHEIGHT" size (or the ratio as given)."""
    match = _SIZE.match(size)
    if not match:
        if size in ASPECT_RATIOS:
            return size
        raise BadRequest(f"size {size!r} is neither WIDTHxHEIGHT nor an aspect ratio")
    width, height = int(match.group(1)), int(match.group(2))
    if not width or not height:
        raise BadRequest(f"size {size!r} has no area")

    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(math.log(width / height) - math.log(int(w) / int(h)))

    return min(ASPECT_RATIOS, key=distance)


def _body(response: Response) -> dict | None:
    try:
        body = response.json()
    except ProviderError:
        return None
    return body if isinstance(body, dict) else {}
