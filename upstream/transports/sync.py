"""The sync transport: provider calls on urllib3, with the outbound guard (`guard.py`) enforced
where urllib3 connects. `SyncTransport.send()` reads an answer whole, `open()` streams one.

The SSRF check runs inside the connection itself, on the address the socket connects to after
DNS resolution (see `guard.py`); redirects are followed only on the same host; bodies are
capped (counted after decompression); connect and read timeouts apply to every read, and an
overall deadline to the whole answer (to a stream, `PROVIDER_STREAM_TIMEOUT`). urllib3's and
the socket's errors become the taxonomy's (`upstream/errors.py`): Timeout, Unreachable,
UnsafeURL, BadRequest or UpstreamError. HTTP error statuses are returned, for the adapter to
classify.

urllib3 rather than `requests`: the issue's benchmark (tests/benchmarks/test_transport_bench.py,
docs/security.md, "Outbound safety") measured a `requests.Session` about 0.2 ms slower a call.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from urllib3 import HTTPResponse, PoolManager
from urllib3 import Timeout as Urllib3Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from ..errors import BadRequest, ProviderError, Timeout, Unreachable, UnsafeURL, UpstreamError
from ..http import Request, Response
from .guard import (
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    UnsafeAddress,
    check_url,
    connect_address,
    encode,
    host_is_allowlisted,
    limits,
    redirect_target,
    with_params,
)

READ_CHUNK = 65536
FINISH_WAIT = 0.02  # seconds a finished stream's remaining framing may take to arrive
FINISH_READS = 4  # reads it may take


def _checked_address(host: str, port: int, connection) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionError(host, connection, exc) from exc
    return connect_address(host, [info[4][0] for info in infos])


class _GuardedConnectionMixin:
    def _new_conn(self):
        if host_is_allowlisted(self.host, self.port):
            return super()._new_conn()
        original = self._dns_host
        # Connect to exactly the address that was checked; TLS still verifies self.host.
        self._dns_host = _checked_address(original, self.port, self)
        try:
            return super()._new_conn()
        finally:
            self._dns_host = original


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


# One connection pool per provider host for the whole process, shared by every greenlet
# (urllib3's pools are thread-safe): a call reuses the connection the last call left warm.
# Each keeps up to PROVIDER_CONNECTIONS_PER_HOST idle connections (by default as many as the
# streams a web process may hold open), so a burst of streams to one provider leaves its
# connections warm for the next instead of closing all but a few (each new one costing a DNS
# lookup and a TCP and TLS handshake). Never blocks: past it a connection is made, and closed
# after its call.
_pools = PoolManager(
    num_pools=64, maxsize=settings.PROVIDER_CONNECTIONS_PER_HOST, block=False, retries=False
)
_pools.pool_classes_by_scheme = {
    "http": GuardedHTTPConnectionPool,
    "https": GuardedHTTPSConnectionPool,
}


class SyncTransport:
    """Runs an adapter's requests on urllib3 (`upstream.calling` drives it). Stateless: the
    connection pools are the module's, shared by every thread."""

    def send(self, request: Request) -> Response:
        """The whole answer. Raises Timeout, Unreachable, UnsafeURL, BadRequest or
        UpstreamError; HTTP error statuses are returned for the adapter to classify."""
        return fetch(
            request.method,
            request.url,
            headers=dict(request.headers),
            params=dict(request.params) if request.params else None,
            json_body=request.json,
            data=request.data,
            files=request.files,
            timeout=request.timeout,
            max_bytes=request.max_bytes,
        )

    def open(self, request: Request) -> StreamingResponse | Response:
        """A streamed answer: a 2xx as a StreamingResponse to read as it arrives, an error
        status as a whole (capped) Response. Raises like `send()`."""
        return stream(
            request.method,
            request.url,
            headers=dict(request.headers),
            params=dict(request.params) if request.params else None,
            json_body=request.json,
            timeout=request.timeout,
            max_bytes=request.max_bytes,
        )


def fetch(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    json_body: Any = None,
    data: Any = None,
    files: Any = None,
    timeout: tuple[float, float] | None = None,
    max_bytes: int | None = None,
) -> Response:
    """Call a provider and read the whole answer (`SyncTransport.send`). `data`/`files` send
    a form or a multipart upload (speech to text) instead of `json_body`."""
    connect_timeout, read_timeout, max_bytes = limits(timeout, max_bytes)
    deadline = time.monotonic() + connect_timeout + read_timeout
    started = time.monotonic()
    response, url = _open(
        method,
        url,
        headers=headers,
        params=params,
        json_body=json_body,
        data=data,
        files=files,
        timeout=(connect_timeout, read_timeout),
    )
    content = _read_capped(response, max_bytes=max_bytes, deadline=deadline)
    return Response(
        status=response.status,
        headers=response.headers,
        content=content,
        url=url,
        elapsed=time.monotonic() - started,
    )


class StreamingResponse:
    """An accepted (2xx) streamed answer: `chunks()` yields its bytes as they arrive, within
    the read timeout between reads, the stream's overall deadline and the size cap. Once
    `close()`d it yields nothing more."""

    def __init__(self, response: HTTPResponse, *, url: str, deadline: float, max_bytes: int):
        self._response = response
        self.status = response.status
        self.headers = response.headers
        self.url = url
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._complete = False  # read to its end: the connection can serve another call
        self.closed = False

    def chunks(self) -> Iterator[bytes]:
        raw = self._response
        total = 0
        try:
            while not self.closed:
                chunk = raw.read1(READ_CHUNK, decode_content=True)
                if not chunk:
                    self._complete = True
                    return
                total += len(chunk)
                if total > self._max_bytes:
                    raise UpstreamError(f"the stream is larger than {self._max_bytes // 1024} KiB")
                if time.monotonic() > self._deadline:
                    raise Timeout("the stream took too long")
                yield chunk
        except ReadTimeoutError:
            raise Timeout("the stream stopped arriving") from None
        except (Urllib3Error, OSError):
            raise UpstreamError("the connection broke during the stream") from None

    def finish(self) -> None:
        """The reader saw the answer's end marker (`data: [DONE]`). What may remain is the
        body's framing (the last chunk of chunked encoding), which has arrived with the marker as
        a rule: read it, so the connection can carry the next call instead of a new one being
        opened (a connect and a DNS lookup on the next call's path). Anything more, or slower
        than FINISH_WAIT, closes the connection."""
        if self.closed:
            return
        raw = self._response
        sock = getattr(raw.connection, "sock", None)
        try:
            if sock is not None:
                sock.settimeout(FINISH_WAIT)  # the pool sets its own again on the next call
            for _ in range(FINISH_READS):
                if not raw.read1(READ_CHUNK, decode_content=True):
                    self._complete = True
                    break
        except (Urllib3Error, OSError):
            pass
        self.close()

    def close(self) -> None:
        """Stop reading: the connection is closed, so the provider stops sending."""
        if self.closed:
            return
        self.closed = True
        if self._complete:
            self._response.release_conn()
        else:
            _discard(self._response)


def stream(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    json_body: Any = None,
    timeout: tuple[float, float] | None = None,
    max_bytes: int | None = None,
) -> StreamingResponse | Response:
    """Open a streamed call (`SyncTransport.open`)."""
    connect_timeout, read_timeout, max_bytes = limits(timeout, max_bytes)
    started = time.monotonic()
    response, url = _open(
        method,
        url,
        headers=headers,
        params=params,
        json_body=json_body,
        timeout=(connect_timeout, read_timeout),
    )
    if response.status >= 300:
        content = _read_capped(
            response, max_bytes=max_bytes, deadline=time.monotonic() + read_timeout
        )
        return Response(
            status=response.status,
            headers=response.headers,
            content=content,
            url=url,
            elapsed=time.monotonic() - started,
        )
    return StreamingResponse(
        response,
        url=url,
        deadline=started + settings.PROVIDER_STREAM_TIMEOUT,
        max_bytes=max_bytes,
    )


def _open(
    method: str,
    url: str,
    *,
    headers,
    params,
    json_body,
    timeout: tuple[float, float],
    data: Any = None,
    files: Any = None,
) -> tuple[HTTPResponse, str]:
    """Send the request, following same-host redirects; returns the unread response."""
    connect_timeout, read_timeout = timeout
    body, all_headers = encode(headers, json_body=json_body, data=data, files=files)
    url = with_params(url, params)
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url)
        try:
            response = _pools.request(
                method,
                url,
                body=body,
                headers=all_headers,
                timeout=Urllib3Timeout(connect=connect_timeout, read=read_timeout),
                redirect=False,
                preload_content=False,
                decode_content=True,
            )
        except UnsafeAddress as exc:
            raise UnsafeURL(f"{exc.host} is a private or reserved address") from None
        except NameResolutionError:
            raise Unreachable(f"cannot resolve {urlsplit(url).hostname}") from None
        except NewConnectionError:  # (a subclass of ConnectTimeoutError)
            raise Unreachable(f"cannot connect to {urlsplit(url).netloc}") from None
        except ConnectTimeoutError:
            raise Timeout(f"no connection within {connect_timeout:g} s") from None
        except ReadTimeoutError:
            raise Timeout(f"no answer within {read_timeout:g} s") from None
        except SSLError:
            raise Unreachable("the TLS handshake failed (certificate or protocol)") from None
        except ProtocolError:  # connected, then the server hung up
            raise UpstreamError("the connection closed before an answer arrived") from None
        except LocationParseError:
            raise BadRequest("invalid URL") from None
        except UnicodeError:
            raise BadRequest(
                "a credential or the URL holds characters a request cannot carry"
            ) from None
        except (Urllib3Error, OSError) as exc:
            raise Unreachable(type(exc).__name__) from None

        location = response.headers.get("Location")
        if response.status not in REDIRECT_STATUSES or not location:
            return response, url
        _discard(response)
        url = redirect_target(url, location)
    raise UpstreamError("too many redirects")


def _discard(response: HTTPResponse) -> None:
    """Close an unfinished response: its connection cannot carry another request."""
    response.close()
    response.release_conn()


def _read_capped(response: HTTPResponse, *, max_bytes: int, deadline: float) -> bytes:
    """The body, refused past `max_bytes` (counted after decompression) or past `deadline`.

    `read1` returns whatever has arrived (at most one socket read), so a server trickling a
    byte at a time meets the deadline check after every read; reading fixed-size chunks would
    block until a whole chunk arrived, each byte resetting the read timeout. A body read to
    its end gives its connection back to the pool; any other outcome closes it."""
    chunks, total = [], 0
    try:
        while True:
            chunk = response.read1(READ_CHUNK, decode_content=True)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise UpstreamError(f"the answer is larger than {max_bytes // 1024} KiB")
            if time.monotonic() > deadline:
                raise Timeout("the answer took too long to arrive")
            chunks.append(chunk)
    except ReadTimeoutError:
        _discard(response)
        raise Timeout("the answer stopped arriving") from None
    except (Urllib3Error, OSError):
        _discard(response)
        raise UpstreamError("the connection broke while reading the answer") from None
    except ProviderError:
        _discard(response)
        raise
    response.release_conn()
    return b"".join(chunks)
