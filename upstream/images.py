"""Images in chat requests, for providers that need an image's bytes rather than its address
(Gemini's `inline_data`, Ollama's `images`): a remote image is fetched as an operation like any
other (`fetch_image`), so it goes through the guarded transport (upstream/transports/: no
private, loopback, link-local or metadata address, same-host redirects only, timeouts), with a
size cap and a check that what came back is an image.
"""

from __future__ import annotations

import base64

from .adapters.base import Operation
from .calls import ImagePart
from .errors import BadRequest
from .http import Request

#: The image types every provider here reads (OpenAI, Anthropic, Gemini and Ollama alike).
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")


def fetch_image(image: ImagePart, *, max_bytes: int) -> Operation[ImagePart]:
    """The image at a remote URL as a data URL; BadRequest when it is not an image, and the
    transport's errors (UnsafeURL, Timeout, UpstreamError past `max_bytes`) as they come."""
    response = yield Request(
        "GET", image.url, headers={"Accept": ", ".join(IMAGE_TYPES)}, max_bytes=max_bytes
    )
    if response.status >= 400:
        raise BadRequest(f"the image's server answered HTTP {response.status}")
    content_type = str(response.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        raise BadRequest(
            f"the URL answered {content_type or 'no content type'}, not an image "
            f"({', '.join(IMAGE_TYPES)})"
        )
    if not response.content:
        raise BadRequest("the URL answered an empty body")
    data = base64.b64encode(response.content).decode()
    return ImagePart(f"data:{content_type};base64,{data}", image.detail)
