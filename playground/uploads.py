"""The playground's image upload: one image, kept in memory (never written to disk, never
logged), refused past `PLAYGROUND_MAX_IMAGE_BYTES`, and sent to the model as a data URL.

Django's default upload handlers write a file larger than FILE_UPLOAD_MAX_MEMORY_SIZE to a
temporary file; `ImageUploadHandler` replaces them for the run view, so the bytes stay in this
request's memory and go when it ends. The image's type is read from its first bytes, not from
what the browser claimed.
"""

from __future__ import annotations

import base64
from io import BytesIO

from django.core.files.uploadedfile import InMemoryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from upstream.images import IMAGE_TYPES

# (first bytes, media type); WebP is RIFF....WEBP, checked apart.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
ACCEPT = ",".join(IMAGE_TYPES)  # the file input's `accept`


class ImageUploadHandler(FileUploadHandler):
    """Keeps the first file of `field_name` in memory, up to `max_bytes`; any other file, or
    one past the cap, is skipped (read and dropped). `too_large` says the image was refused
    for its size, so the form can say so."""

    def __init__(self, request=None, *, field_name: str, max_bytes: int):
        super().__init__(request)
        self.accepted_field = field_name
        self.max_bytes = max_bytes
        self.too_large = False
        self._taken = False
        self._buffer: BytesIO | None = None
        self._size = 0

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        if field_name != self.accepted_field or self._taken:
            raise SkipFile
        self._taken = True
        if self.content_length is not None and self.content_length > self.max_bytes:
            self.too_large = True
            raise SkipFile
        self._buffer = BytesIO()
        self._size = 0

    def receive_data_chunk(self, raw_data, start):
        self._size += len(raw_data)
        if self._size > self.max_bytes:
            self.too_large = True
            self._buffer = None
            raise SkipFile
        assert self._buffer is not None
        self._buffer.write(raw_data)
        return None

    def file_complete(self, file_size):
        if self._buffer is None:
            return None
        self._buffer.seek(0)
        return InMemoryUploadedFile(
            file=self._buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def image_type(head: bytes) -> str | None:
    """The image's media type from its first bytes, None when it is none of IMAGE_TYPES."""
    for signature, media_type in _SIGNATURES:
        if head.startswith(signature):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def data_url(upload: UploadedFile, media_type: str) -> str:
    upload.seek(0)
    return f"data:{media_type};base64,{base64.b64encode(upload.read()).decode()}"
