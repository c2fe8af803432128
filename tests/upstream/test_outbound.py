"""The outbound guard through the transports themselves (`upstream/transports/`): SSRF
refusals, the allow-list, DNS rebinding, redirects, body caps and the answer deadline. Every
request goes through `TRANSPORT.send()`, as an adapter's do; the sync transport is the one
there is (an async transport would join through a sync wrapper of its `send`).

No traffic may leave for anything but 127.0.0.1: the guard refuses before connecting, and a
tripwire on urllib3's `create_connection` fails any connection attempt to another address
without sending a packet (and records it, so refused URLs are seen to make no attempt at all).
"""

from __future__ import annotations

import socket
import time

import pytest
import urllib3.util.connection

from upstream.errors import BadRequest, Timeout, Unreachable, UnsafeURL, UpstreamError
from upstream.http import Request, Response
from upstream.transports.guard import MAX_REDIRECTS, address_is_public, host_is_allowlisted
from upstream.transports.sync import SyncTransport

VALID = {"Authorization": "Bearer sk-test-valid-1"}
LOOPBACK = {"127.0.0.1", "localhost"}
TRANSPORT = SyncTransport()


def request(method: str, url: str, **fields) -> Response:
    """One whole request through the transport under test."""
    return TRANSPORT.send(Request(method, url, **fields))


@pytest.fixture(autouse=True)
def connections(monkeypatch) -> list[str]:
    """Every address a connection was attempted to; only loopback is really connected."""
    attempts: list[str] = []
    original = urllib3.util.connection.create_connection

    def guarded(address, *args, **kwargs):
        attempts.append(address[0])
        if address[0] not in LOOPBACK:
            raise ConnectionRefusedError(f"test tripwire: no connection to {address[0]}")
        return original(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", guarded)
    return attempts


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 80)
    except socket.gaierror:
        return False
    return True


# -- refused addresses ------------------------------------------------------------------------

LOOPBACK_SPELLINGS = [
    "http://127.0.0.1:{port}/_test/ok",
    "http://localhost:{port}/_test/ok",
    "http://[::1]:{port}/_test/ok",
    "http://2130706433:{port}/_test/ok",  # decimal
    "http://0x7f000001:{port}/_test/ok",  # hex
    "http://127.1:{port}/_test/ok",  # short form
    "http://[::ffff:127.0.0.1]:{port}/_test/ok",  # IPv4-mapped IPv6
    "http://0.0.0.0:{port}/_test/ok",
    "https://127.0.0.1:{port}/_test/ok",
]
OTHER_BLOCKED = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS metadata over IPv6
    "http://100.100.100.200/latest/meta-data/",  # Alibaba metadata
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",  # CGNAT
    "http://224.0.0.1/",  # multicast
    "http://240.0.0.1/",  # reserved
    "http://[fe80::1]/",  # link-local
    "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
]


def assert_refused(url: str, connections: list[str], server) -> UnsafeURL:
    with pytest.raises(UnsafeURL) as caught:
        request("GET", url, headers=VALID)
    assert "PROVIDER_URL_ALLOWLIST" in caught.value.hint
    assert connections == [], "the guard must refuse before connecting"
    assert server.requests == []
    return caught.value


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS + OTHER_BLOCKED)
def test_private_addresses_are_refused_before_connecting(
    fake_providers, settings, connections, url
):
    settings.PROVIDER_URL_ALLOWLIST = []
    assert_refused(url.format(port=fake_providers.port), connections, fake_providers)


@pytest.mark.parametrize("url", [u for u in LOOPBACK_SPELLINGS if "//127.0.0.1:" not in u])
def test_allowing_127_0_0_1_does_not_allow_its_other_spellings(fake_providers, connections, url):
    # fake_providers allow-lists "127.0.0.1:PORT": the entry is matched as written.
    assert_refused(url.format(port=fake_providers.port), connections, fake_providers)


def test_octal_spelling_is_refused_or_unresolvable(fake_providers, settings, connections):
    settings.PROVIDER_URL_ALLOWLIST = []
    url = f"http://0177.0.0.1:{fake_providers.port}/_test/ok"
    if resolves("0177.0.0.1"):  # glibc reads it as octal, 127.0.0.1
        assert_refused(url, connections, fake_providers)
    else:
        with pytest.raises(Unreachable, match="cannot resolve"):
            request("GET", url)
        assert connections == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1:{port}/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:{port}/_GET%20/",
        "http://user:pass@127.0.0.1:{port}/_test/ok",
        "http://user@127.0.0.1:{port}/_test/ok",
        "http:///no-host",
        "http://127.0.0.1:0/",
        "http://127.0.0.1:99999/",
        "http://[::1/",
    ],
)
def test_unusable_urls_are_bad_requests(fake_providers, connections, url):
    with pytest.raises(BadRequest):
        request("GET", url.format(port=fake_providers.port))
    assert connections == []
    assert fake_providers.requests == []


# -- the allow-list ---------------------------------------------------------------------------


def test_an_allow_listed_host_and_port_is_reached(fake_providers, connections):
    answer = request("GET", fake_providers.url("/_test/ok"))
    assert answer.status == 200
    assert answer.json() == {"ok": True, "path": "/ok"}
    assert connections == ["127.0.0.1"]
    assert [r.path for r in fake_providers.requests] == ["/_test/ok"]


def test_allow_listing_is_per_port(fake_providers, connections, free_port):
    assert_refused(f"http://127.0.0.1:{free_port}/", connections, fake_providers)


def test_a_bare_host_entry_allows_any_port(fake_providers, settings, connections, free_port):
    settings.PROVIDER_URL_ALLOWLIST = ["127.0.0.1"]
    assert request("GET", fake_providers.url("/_test/ok")).status == 200
    # Another port is allowed too: nothing listens there, so it is unreachable, not unsafe.
    with pytest.raises(Unreachable, match="cannot connect"):
        request("GET", f"http://127.0.0.1:{free_port}/")
    assert connections == ["127.0.0.1", "127.0.0.1"]


def test_allow_list_entries_are_case_insensitive_names(fake_providers, settings):
    settings.PROVIDER_URL_ALLOWLIST = [f" LocalHost:{fake_providers.port} "]
    answer = request("GET", f"http://localhost:{fake_providers.port}/_test/ok")
    assert answer.status == 200


@pytest.mark.parametrize(
    ("entries", "host", "port", "allowed"),
    [
        (["localhost:11434"], "localhost", 11434, True),
        (["localhost:11434"], "localhost", 11435, False),
        (["localhost"], "localhost", 8080, True),
        (["localhost."], "LOCALHOST", 80, True),
        (["[::1]:11434"], "[::1]", 11434, True),
        (["[::1]:11434"], "::1", 11435, False),
        (["::1"], "::1", 1, True),
        (["10.0.0.5:8000"], "10.0.0.50", 8000, False),
        ([], "localhost", 11434, False),
    ],
)
def test_host_is_allowlisted(settings, entries, host, port, allowed):
    settings.PROVIDER_URL_ALLOWLIST = entries
    assert host_is_allowlisted(host, port) is allowed


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_development_lets_a_local_ollama_through_on_its_default_port(settings, connections, host):
    """`make run` (DEPLOYMENT=development) reaches the Ollama catalog's default address without
    configuration; tests/test_settings.py shows production refusing the same address."""
    assert "localhost:11434" in settings.DEVELOPMENT_PROVIDER_URLS
    settings.PROVIDER_URL_ALLOWLIST = [*settings.DEVELOPMENT_PROVIDER_URLS]
    try:
        request("GET", f"http://{host}:11434/api/tags")
    except UnsafeURL:  # pragma: no cover - the failure this test is for
        pytest.fail(f"{host}:11434 was refused in development")
    except Unreachable:
        pass  # nothing listens there: the guard let the connection be tried
    assert connections == [host.strip("[]")]


def test_development_allows_only_ollamas_port_on_loopback(settings, connections, free_port):
    settings.PROVIDER_URL_ALLOWLIST = [*settings.DEVELOPMENT_PROVIDER_URLS]
    with pytest.raises(UnsafeURL):
        request("GET", f"http://localhost:{free_port}/")
    assert connections == []


# -- resolution is checked where the connection goes ------------------------------------------


def test_a_name_resolving_to_loopback_is_refused(fake_providers, settings, connections):
    settings.PROVIDER_URL_ALLOWLIST = []
    assert_refused(f"http://localhost:{fake_providers.port}/_test/ok", connections, fake_providers)


def test_dns_rebinding_connects_to_the_address_that_was_checked(
    fake_providers, settings, connections, monkeypatch
):
    """The name answers a public address when checked and loopback afterwards: the connection
    must go to the checked address, never to a second lookup's answer."""
    settings.PROVIDER_URL_ALLOWLIST = []
    lookups: list[str] = []
    original = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.test":
            return original(host, port, *args, **kwargs)
        lookups.append(host)
        address = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)

    with pytest.raises(Unreachable):  # the tripwire stands in for the public host
        request("GET", f"http://rebind.test:{fake_providers.port}/_test/ok")

    assert connections == ["93.184.216.34"]
    assert lookups == ["rebind.test"]
    assert fake_providers.requests == []


def test_every_resolved_address_must_be_public(fake_providers, settings, connections, monkeypatch):
    settings.PROVIDER_URL_ALLOWLIST = []
    original = socket.getaddrinfo

    def mixed(host, port, *args, **kwargs):
        if host != "mixed.test":
            return original(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    assert_refused("http://mixed.test/", connections, fake_providers)


def test_an_unresolvable_name_is_unreachable(fake_providers, connections):
    with pytest.raises(Unreachable, match="cannot resolve nonexistent.invalid"):
        request("GET", "http://nonexistent.invalid/v1/models")
    assert connections == []


# -- redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/_test/redirect/same", "/_test/redirect/absolute-same"])
def test_same_host_redirects_are_followed(fake_providers, path):
    answer = request("GET", fake_providers.url(path))
    assert answer.status == 200
    assert answer.url == fake_providers.url("/_test/ok")
    assert [r.path for r in fake_providers.requests] == [path, "/_test/ok"]


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/_test/redirect/other", "other-host.invalid"),
        ("/_test/redirect/metadata", "169.254.169.254"),
    ],
)
def test_redirects_to_another_host_are_refused(fake_providers, connections, path, target):
    with pytest.raises(UpstreamError, match=f"redirected to another host \\({target}\\)"):
        request("GET", fake_providers.url(path), headers=VALID)
    assert connections == ["127.0.0.1"]
    assert [r.path for r in fake_providers.requests] == [path]


def test_redirect_loops_stop(fake_providers):
    with pytest.raises(UpstreamError, match="too many redirects"):
        request("GET", fake_providers.url("/_test/redirect/loop"))
    assert len(fake_providers.requests) == MAX_REDIRECTS + 1


# -- answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/_test/big?bytes=5000", "/_test/big?bytes=5000&chunked=1", "/_test/gzip?bytes=5000"],
)
def test_a_body_over_the_cap_is_refused(fake_providers, settings, path):
    settings.PROVIDER_MAX_RESPONSE_BYTES = 1024
    with pytest.raises(UpstreamError, match="larger than 1 KiB"):
        request("GET", fake_providers.url(path))


@pytest.mark.parametrize(
    "path",
    ["/_test/big?bytes=1024", "/_test/big?bytes=1024&chunked=1", "/_test/gzip?bytes=1024"],
)
def test_a_body_within_the_cap_arrives_whole(fake_providers, settings, path):
    settings.PROVIDER_MAX_RESPONSE_BYTES = 1024
    assert len(request("GET", fake_providers.url(path)).content) == 1024


def test_the_cap_can_be_set_per_request(fake_providers):
    with pytest.raises(UpstreamError, match="larger than 2 KiB"):
        request("GET", fake_providers.url("/_test/big?bytes=4096"), max_bytes=2048)


def test_a_trickling_answer_meets_the_deadline(fake_providers, short_provider_timeouts):
    started = time.monotonic()
    with pytest.raises(Timeout, match="took too long"):
        # 100 bytes, one every 0.25 s: each byte arrives within the read timeout.
        request("GET", fake_providers.url("/_test/drip?bytes=100&every=0.25"))
    assert time.monotonic() - started < 3.5  # connect + read timeouts (2 s) and one byte


def test_a_server_that_never_answers_times_out(fake_providers, short_provider_timeouts):
    url = fake_providers.base_url("openai", "hang") + "/models"
    with pytest.raises(Timeout, match="no answer within 1 s"):
        request("GET", url, headers=VALID)


def test_a_slow_answer_arrives(fake_providers):
    answer = request("GET", fake_providers.url("/_test/slow"))
    assert answer.status == 200
    assert answer.elapsed >= 0.2


def test_a_connection_closed_without_an_answer_is_an_upstream_error(fake_providers):
    url = fake_providers.base_url("openai", "reset") + "/models"
    with pytest.raises(UpstreamError, match="closed before an answer"):
        request("GET", url, headers=VALID)


def test_an_answer_that_is_not_json_is_an_upstream_error(fake_providers):
    url = fake_providers.base_url("openai", "malformed") + "/models"
    answer = request("GET", url, headers=VALID)
    assert answer.status == 200
    with pytest.raises(UpstreamError, match="not JSON"):
        answer.json()


@pytest.mark.parametrize(
    "key",
    ["sk-line\nbreak-0123456789", "sk-curly\u2019quote-0123456789"],
)
def test_a_key_a_request_cannot_carry_is_a_bad_request_that_hides_it(fake_providers, key):
    with pytest.raises(BadRequest) as caught:
        request("GET", fake_providers.url("/_test/ok"), headers={"Authorization": f"Bearer {key}"})
    assert "0123456789" not in caught.value.message
    assert fake_providers.requests == []


# -- address_is_public ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("93.184.216.34", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:8.8.8.8", True),
        ("2002:808:808::", True),  # 6to4 of a public address
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # CGNAT
        ("169.254.169.254", False),  # metadata
        ("100.100.100.200", False),  # Alibaba metadata
        ("0.0.0.0", False),  # noqa: S104 - a value under test, not a bind
        ("224.0.0.1", False),  # multicast
        ("240.0.0.1", False),  # reserved
        ("255.255.255.255", False),
        ("198.18.0.1", False),  # benchmarking
        ("192.0.2.1", False),  # documentation
        ("::1", False),
        ("::", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),  # 6to4 of loopback
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("fd00:ec2::254", False),  # AWS metadata
        ("fc00::1", False),  # unique local
        ("fe80::1", False),  # link-local
        ("fe80::1%eth0", False),  # with a zone
        ("ff02::1", False),  # multicast
        ("2001:db8::1", False),  # documentation
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
    ],
)
def test_address_is_public(address, public):
    assert address_is_public(address) is public
