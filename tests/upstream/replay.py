"""Transports that send nothing: they record the requests an adapter yields and answer with
recorded responses and streams (tests/upstream/recordings.py). `forbid_sockets` makes any
connection attempt fail the test, so a test using them is seen to stay off the network."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field

from upstream.http import Headers, Request, Response

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}


def forbid_sockets(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a pure test tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@dataclass
class Stream:
    """A recorded accepted stream: its body as the pieces it arrived in."""

    pieces: list[bytes]
    headers: Mapping[str, str] = field(default_factory=lambda: dict(SSE_HEADERS))
    status: int = 200


def pieces_of(data: bytes, *cuts: int) -> list[bytes]:
    """`data` cut at the given byte offsets."""
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


class RecordedStream:
    """A sync stream handle over recorded pieces."""

    def __init__(self, stream: Stream, url: str):
        self.status = stream.status
        self.headers = Headers(stream.headers)
        self.url = url
        self._pieces = stream.pieces
        self.closed = False
        self.read = 0  # pieces handed out

    def chunks(self) -> Iterator[bytes]:
        for piece in self._pieces:
            if self.closed:
                return
            self.read += 1
            yield piece

    def finish(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True


class RecordedTransport:
    """Answers each request with the next recorded answer: a `Response` (whole, or an error
    status for a stream), or a `Stream` (a stream the provider accepted)."""

    def __init__(self, *answers: Response | Stream):
        self.answers = list(answers)
        self.requests: list[Request] = []
        self.streams: list[RecordedStream] = []

    def _next(self, request: Request) -> Response | Stream:
        self.requests.append(request)
        assert self.answers, f"no recorded answer left for {request.method} {request.url}"
        return self.answers.pop(0)

    def send(self, request: Request) -> Response:
        assert request.stream is None
        answer = self._next(request)
        assert isinstance(answer, Response), "a stream was recorded for a whole request"
        return answer

    def open(self, request: Request) -> RecordedStream | Response:
        assert request.stream is not None
        answer = self._next(request)
        if isinstance(answer, Response):
            return answer
        handle = RecordedStream(answer, request.url)
        self.streams.append(handle)
        return handle


class AsyncRecordedStream:
    def __init__(self, stream: Stream, url: str):
        self.status = stream.status
        self.headers = Headers(stream.headers)
        self.url = url
        self._pieces = stream.pieces
        self.closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            if self.closed:
                return
            yield piece

    async def aclose(self) -> None:
        self.closed = True


class AsyncRecordedTransport(RecordedTransport):
    """`RecordedTransport` behind the `AsyncTransport` interface."""

    async def send(self, request: Request) -> Response:  # type: ignore[override]
        return RecordedTransport.send(self, request)

    async def open(self, request: Request) -> AsyncRecordedStream | Response:  # type: ignore[override]
        assert request.stream is not None
        answer = self._next(request)
        if isinstance(answer, Response):
            return answer
        handle = AsyncRecordedStream(answer, request.url)
        self.streams.append(handle)  # type: ignore[arg-type]
        return handle
