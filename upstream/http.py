"""Provider HTTP as plain data, with no socket: what an adapter asks for (`Request`) and what it
is given back (`Response`, or `StreamHead` for a stream the provider accepted).

Adapters build `Request`s and read `Response`s; a transport (`upstream/transports/`) sends the
one and makes the other. Nothing here connects anywhere, so an adapter can be driven by a sync
transport, an async one, or a test replaying recorded answers (docs/architecture.md, "Adapters
and transports").
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import UpstreamError

#: How a streamed answer is framed: server-sent events, one JSON text a line, or raw bytes.
STREAM_FORMATS = ("sse", "ndjson", "bytes")


@dataclass(frozen=True)
class Request:
    """One HTTP request to a provider.

    The body is `json` (sent as JSON), or `data` (a form; with `files`, plain fields of a
    multipart upload), or `files` alone (multipart: `name: (filename, bytes, content type)`,
    or `(None, value)` for a plain field). `stream` asks for the answer as it arrives, in one
    of `STREAM_FORMATS`; without it the answer is read whole. `timeout` ((connect, read)
    seconds) and `max_bytes` override the settings' defaults for this request.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] | None = None
    json: Any = None
    data: Mapping[str, Any] | None = None
    files: Mapping[str, Any] | None = None
    stream: str | None = None
    timeout: tuple[float, float] | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.stream is not None and self.stream not in STREAM_FORMATS:
            raise ValueError(f"unknown stream format {self.stream!r}")


class Headers(Mapping[str, str]):
    """Response headers looked up by any case of their name (what a test or a transport
    without its own header type hands an adapter). Repeated names are joined with ", "."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()):
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            if key in self._items:
                value = f"{self._items[key][1]}, {value}"
                name = self._items[key][0]
            self._items[key] = (name, str(value))

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __repr__(self) -> str:
        return f"Headers({dict(self._items.values())!r})"


@dataclass
class Response:
    """A whole answer: its status, headers, body bytes, the URL that answered (after same-host
    redirects) and how long it took."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str = ""
    elapsed: float = 0.0
    _json: Any = field(default=None, repr=False)

    def json(self) -> Any:
        """The body as JSON; an unreadable body is the provider's fault (UpstreamError)."""
        if self._json is None:
            try:
                self._json = jsonlib.loads(self.content or b"null")
            except (ValueError, RecursionError) as exc:  # not JSON, or nested past any reason
                raise UpstreamError(f"unreadable answer (HTTP {self.status}, not JSON)") from exc
        return self._json

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class StreamHead:
    """A streamed answer the provider accepted (2xx): its status and headers, before any of
    its body. The driver keeps the body; the adapter answers with a parser for it."""

    status: int
    headers: Mapping[str, str]
    url: str = ""

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type") or "").split(";")[0].strip().lower()
