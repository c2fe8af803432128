"""Outbound HTTP to providers: the SSRF guard, explicit timeouts, no cross-host redirects and
capped response bodies. Every adapter calls providers through `request()`.

The guard checks the address the socket actually connects to, after DNS resolution, inside the
connection itself, so a host that resolves to a public address when checked and a private one
when connected (DNS rebinding) cannot slip through, and every spelling of an address (decimal,
hex, IPv6, IPv4-mapped IPv6) is judged by what it resolves to.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from django.conf import settings
from urllib3 import HTTPHeaderDict, HTTPResponse, PoolManager
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
from urllib3.filepost import encode_multipart_formdata

from .errors import BadRequest, ProviderError, Timeout, Unreachable, UnsafeURL, UpstreamError

# Cloud metadata endpoints that are not covered by "not global" everywhere.
METADATA_NETWORKS = [
    ipaddress.ip_network("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS IPv6
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud
]
MAX_REDIRECTS = 3
READ_CHUNK = 65536


class UnsafeAddress(Exception):  # noqa: N818 - not an OSError on purpose: urllib3 must not retry it
    """Raised inside the connection when the resolved address is not public."""

    def __init__(self, host: str, address: str):
        super().__init__(f"{host} resolves to {address}")
        self.host = host
        self.address = address


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            ip = embedded
    if any(ip in network for network in METADATA_NETWORKS if network.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def _normalised_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def host_is_allowlisted(host: str, port: int) -> bool:
    """`PROVIDER_URL_ALLOWLIST` entries are `host:port` or a bare `host` (any port)."""
    host = _normalised_host(host)
    for entry in settings.PROVIDER_URL_ALLOWLIST:
        entry = entry.strip().lower()
        if entry.startswith("["):  # [::1]:11434
            allowed_host, _, allowed_port = entry[1:].partition("]")
            allowed_port = allowed_port.lstrip(":")
        elif entry.count(":") == 1:
            allowed_host, allowed_port = entry.split(":")
        else:
            allowed_host, allowed_port = entry, ""
        if _normalised_host(allowed_host) == host and allowed_port in ("", str(port)):
            return True
    return False


def _checked_address(host: str, port: int, connection) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionError(host, connection, exc) from exc
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        if not address_is_public(address):
            raise UnsafeAddress(host, address)
    return addresses[0]


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


# One connection pool per provider host for the whole process, shared by every thread
# (urllib3's pools are thread-safe): a call reuses the connection the last call left warm.
# Sized for a gunicorn worker's threads all calling the same provider at once.
_pools = PoolManager(num_pools=64, maxsize=64, block=False, retries=False)
_pools.pool_classes_by_scheme = {
    "http": GuardedHTTPConnectionPool,
    "https": GuardedHTTPSConnectionPool,
}
DEFAULT_HEADERS = {
    "User-Agent": "model-console",
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_VALUE = re.compile(r"^(?:\S[^\r\n]*)?$")


def check_url(url: str) -> None:
    """Refuse what can be refused without connecting: scheme, user info, missing host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadRequest(f"invalid URL ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise BadRequest("only http:// and https:// URLs are allowed")
    if not parts.hostname:
        raise BadRequest("the URL has no host")
    if parts.username or parts.password:
        raise BadRequest("put credentials in their fields, not in the URL")
    if port == 0:
        raise BadRequest("invalid port")


@dataclass
class ProviderResponse:
    status: int
    headers: HTTPHeaderDict
    content: bytes
    url: str
    elapsed: float = 0.0
    _json: Any = field(default=None, repr=False)

    def json(self) -> Any:
        """The body as JSON; an unreadable body is the provider's fault (UpstreamError)."""
        if self._json is None:
            try:
                self._json = json.loads(self.content or b"null")
            except (ValueError, RecursionError) as exc:  # not JSON, or nested past any reason
                raise UpstreamError(f"unreadable answer (HTTP {self.status}, not JSON)") from exc
        return self._json

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def request(
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
) -> ProviderResponse:
    """Call a provider. Raises Timeout, Unreachable, UnsafeURL, BadRequest or UpstreamError;
    HTTP error statuses are returned for the adapter to classify. `data`/`files` send a form
    or a multipart upload (speech to text) instead of `json_body`."""
    connect_timeout, read_timeout = timeout or (
        settings.PROVIDER_CONNECT_TIMEOUT,
        settings.PROVIDER_READ_TIMEOUT,
    )
    max_bytes = max_bytes or settings.PROVIDER_MAX_RESPONSE_BYTES
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
    return ProviderResponse(
        status=response.status,
        headers=response.headers,
        content=content,
        url=url,
        elapsed=time.monotonic() - started,
    )


class StreamingResponse:
    """An accepted (2xx) streamed answer: `lines()` yields its lines as they arrive, within
    the read timeout between reads, the stream's overall deadline and the size cap. Once
    `close()`d it yields nothing more, not even lines already read (a client that went away
    gets no more chunks)."""

    def __init__(self, response: HTTPResponse, *, deadline: float, max_bytes: int):
        self._response = response
        self.status = response.status
        self.headers = response.headers
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._complete = False  # read to its end: the connection can serve another call
        self.closed = False

    def lines(self) -> Iterator[str]:
        raw = self._response
        buffer, total = b"", 0
        try:
            while True:
                chunk = raw.read1(READ_CHUNK, decode_content=True)
                if not chunk:
                    break
                total += len(chunk)
                if total > self._max_bytes:
                    raise UpstreamError(f"the stream is larger than {self._max_bytes // 1024} KiB")
                if time.monotonic() > self._deadline:
                    raise Timeout("the stream took too long")
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                for line in complete:
                    if self.closed:
                        return
                    yield line.rstrip(b"\r").decode("utf-8", errors="replace")
        except ReadTimeoutError:
            raise Timeout("the stream stopped arriving") from None
        except (Urllib3Error, OSError):
            raise UpstreamError("the connection broke during the stream") from None
        self._complete = True
        if buffer and not self.closed:
            yield buffer.rstrip(b"\r").decode("utf-8", errors="replace")

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
) -> StreamingResponse | ProviderResponse:
    """Open a streamed call: a 2xx answer comes back as a StreamingResponse to read line by
    line; an error status as a whole (capped) ProviderResponse for the adapter to classify.
    Raises like `request()`."""
    connect_timeout, read_timeout = timeout or (
        settings.PROVIDER_CONNECT_TIMEOUT,
        settings.PROVIDER_READ_TIMEOUT,
    )
    max_bytes = max_bytes or settings.PROVIDER_MAX_RESPONSE_BYTES
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
        return ProviderResponse(
            status=response.status,
            headers=response.headers,
            content=content,
            url=url,
            elapsed=time.monotonic() - started,
        )
    return StreamingResponse(
        response,
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
    body, all_headers = _encode(headers, json_body=json_body, data=data, files=files)
    if params:
        query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        url = f"{url}{'&' if urlsplit(url).query else '?'}{query}" if query else url
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
        target = urljoin(url, location)
        if urlsplit(target).netloc != urlsplit(url).netloc:
            raise UpstreamError(
                f"redirected to another host ({urlsplit(target).netloc}); "
                "set the base URL to the final address"
            )
        url = target
    raise UpstreamError("too many redirects")


def _encode(
    headers: dict[str, str] | None, *, json_body: Any, data: Any, files: Any
) -> tuple[bytes | None, dict[str, str]]:
    """The body and the headers to send: JSON, a form, or multipart (files, with `data` as
    plain fields). Header values are checked first: a credential with a line break or a
    leading space must not reach the wire, and the message never quotes it."""
    all_headers = {**DEFAULT_HEADERS, **(headers or {})}
    for name, value in all_headers.items():
        if (
            not isinstance(value, str)
            or not _HEADER_NAME.match(name)
            or not _HEADER_VALUE.match(value)
        ):
            raise BadRequest(
                "a credential holds characters a request cannot carry (spaces, line breaks)"
            )
    if files:
        fields: list[tuple[str, Any]] = list((data or {}).items())
        for name, part in files.items():
            filename = part[0] if isinstance(part, tuple) else None
            fields.append((name, part[1] if filename is None else part))
        body, content_type = encode_multipart_formdata(fields)
        all_headers["Content-Type"] = content_type
        return body, all_headers
    if data is not None:
        all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        return urlencode(data, doseq=True).encode(), all_headers
    if json_body is not None:
        all_headers.setdefault("Content-Type", "application/json")
        try:
            return json.dumps(json_body, allow_nan=False).encode(), all_headers
        except ValueError as exc:
            raise BadRequest(f"the request cannot be sent as JSON ({exc})") from None
    return None, all_headers


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
