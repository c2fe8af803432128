"""Transports: what sends an adapter's `Request`s (docs/architecture.md, "Adapters and
transports"). Adapters never import this package; `upstream/calling.py` runs them on one.

- `guard.py`: the outbound guard's rules (addresses, URLs, redirects, headers, limits), for
  every transport.
- `sync.py`: `SyncTransport`, on urllib3, the one every caller uses today.
- An async transport (an async HTTP client, for the gateway at scale) implements
  `AsyncTransport` below with the same guard; `upstream.calling.arun` drives adapters on it
  unchanged.

A transport raises the taxonomy's errors for what went wrong on the way (Timeout,
Unreachable, UnsafeURL, BadRequest, UpstreamError) and returns HTTP error statuses as a whole
`Response`, for the adapter to classify.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Protocol

from ..http import Request, Response


class StreamHandle(Protocol):
    """An accepted streamed answer being read (sync)."""

    status: int
    headers: Mapping[str, str]
    url: str
    closed: bool

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes as they arrive; nothing more once closed."""
        ...

    def finish(self) -> None:
        """The reader saw the answer's end: keep the connection for another call if the rest
        of the body comes at once, and close."""
        ...

    def close(self) -> None:
        """Stop reading (the provider stops sending); a second close does nothing."""
        ...


class Transport(Protocol):
    def send(self, request: Request) -> Response:
        """The whole answer, any status."""
        ...

    def open(self, request: Request) -> StreamHandle | Response:
        """A streamed answer: a handle when accepted (2xx), else the whole error answer."""
        ...


class AsyncStreamHandle(Protocol):
    """An accepted streamed answer being read (async)."""

    status: int
    headers: Mapping[str, str]
    url: str
    closed: bool

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class AsyncTransport(Protocol):
    async def send(self, request: Request) -> Response: ...

    async def open(self, request: Request) -> AsyncStreamHandle | Response: ...
