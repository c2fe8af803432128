"""The outbound guard's rules, for every transport: which addresses may be reached, which URLs
may be asked for, where a redirect may go, what a request may carry, and the default limits.

A transport enforces them where its HTTP client lets it: the sync transport (`sync.py`) checks
the address inside the connection itself, after DNS resolution (`connect_address`), so a host
that resolves to a public address when checked and a private one when connected (DNS
rebinding) cannot slip through, and every spelling of an address (decimal, hex, IPv6,
IPv4-mapped IPv6) is judged by what it resolves to.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from django.conf import settings
from urllib3.filepost import encode_multipart_formdata

from ..errors import BadRequest, UpstreamError

# Cloud metadata endpoints that are not covered by "not global" everywhere.
METADATA_NETWORKS = [
    ipaddress.ip_network("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS IPv6
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud
]
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_HEADERS = {
    "User-Agent": "model-console",
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
}
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_VALUE = re.compile(r"^(?:\S[^\r\n]*)?$")


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


def connect_address(host: str, addresses: list[str]) -> str:
    """The address to connect to, of those `host` resolved to: the first, once every one of
    them is public (else UnsafeAddress)."""
    for address in addresses:
        if not address_is_public(address):
            raise UnsafeAddress(host, address)
    return addresses[0]


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


def redirect_target(url: str, location: str) -> str:
    """Where a redirect from `url` goes; refused (UpstreamError) when it leaves the host."""
    target = urljoin(url, location)
    if urlsplit(target).netloc != urlsplit(url).netloc:
        raise UpstreamError(
            f"redirected to another host ({urlsplit(target).netloc}); "
            "set the base URL to the final address"
        )
    return target


def limits(timeout: tuple[float, float] | None, max_bytes: int | None) -> tuple[float, float, int]:
    """(connect timeout, read timeout, body cap): the request's own, else the settings'."""
    connect_timeout, read_timeout = timeout or (
        settings.PROVIDER_CONNECT_TIMEOUT,
        settings.PROVIDER_READ_TIMEOUT,
    )
    return connect_timeout, read_timeout, max_bytes or settings.PROVIDER_MAX_RESPONSE_BYTES


def with_params(url: str, params: dict[str, Any] | None) -> str:
    """The URL with the query parameters added (None values left out)."""
    if params:
        query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        url = f"{url}{'&' if urlsplit(url).query else '?'}{query}" if query else url
    return url


def encode(
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
