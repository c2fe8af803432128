"""The HTTP server of the fakes: one ThreadingHTTPServer on 127.0.0.1 and a free port that
records every request and hands it to the provider whose path prefix it names (PROVIDERS), after
applying the scenario its key or `/s/<scenario>` segment asks for; and the routes for outbound
tests under /_test/ (redirects, big, trickling and gzip bodies, an HTML 502): see `_test_route`.
"""

from __future__ import annotations

import gzip
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from tests.fakes.providers.anthropic import Anthropic
from tests.fakes.providers.azure_openai import DEFAULT_DEPLOYMENTS, Azure
from tests.fakes.providers.base import SCENARIOS, FakeProvider, FakeRequest, Reply, scenario_of
from tests.fakes.providers.cohere import Cohere
from tests.fakes.providers.elevenlabs import ElevenLabs
from tests.fakes.providers.gemini import Gemini
from tests.fakes.providers.ollama import Ollama
from tests.fakes.providers.openai import OpenAI
from tests.fakes.providers.stability import Stability

DEFAULT_HANG_SECONDS = 3.0
SLOW_SECONDS = 0.2
# Servers may return fewer items than a page size asks for; a small cap makes the fakes
# paginate so adapters are seen to follow page tokens.
DEFAULT_PAGE_SIZE_CAP = 4

BASE_PATHS = {
    "openai": "/openai/v1",
    "openai_compatible": "/openai/v1",
    "anthropic": "/anthropic",
    "gemini": "/gemini",
    "cohere": "/cohere",
    "azure_openai": "/azure",
    "ollama": "/ollama",
    "stability": "/stability",
    "elevenlabs": "/elevenlabs",
}

DEEP_JSON_BODY = b"[" * 100_000 + b"]" * 100_000  # valid JSON, too deep for any parser
MALFORMED_BODY = (
    b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head>"
    b"<body><h1>Welcome</h1><p>Accept the terms to continue.</p></body></html>"
)
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class RecordedRequest(NamedTuple):
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes


RESET = object()  # close the connection without answering


PROVIDERS: dict[str, FakeProvider] = {
    provider.prefix: provider
    for provider in (
        OpenAI(),
        Anthropic(),
        Gemini(),
        Cohere(),
        Azure(),
        Ollama(),
        Stability(),
        ElevenLabs(),
    )
}


# -- the server -------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeProviderServer

    def handle_error(self, request, client_address):
        # A client that gave up (timeouts, resets) is part of the scenarios, not a failure.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: the connection closes after every answer, so no pooled connection outlives the
    # allow-list a test set when it was opened.
    protocol_version = "HTTP/1.0"
    server_version = "FakeProviders/1.0"
    server: _HTTPServer

    def do_GET(self):
        self.server.fake.dispatch(self, "GET")

    def do_POST(self):
        self.server.fake.dispatch(self, "POST")

    def do_DELETE(self):
        self.server.fake.dispatch(self, "DELETE")

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


class FakeProviderServer:
    """The fake APIs on 127.0.0.1 and a free port; `start()` before use, `stop()` after."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._httpd = _HTTPServer((host, 0), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None
        self._test_routes: dict[str, Callable[[FakeRequest, BaseHTTPRequestHandler], Any]] = {}
        self.reset()

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> FakeProviderServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="fake-providers",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
        self.hang_seconds = DEFAULT_HANG_SECONDS
        self.page_size_cap = DEFAULT_PAGE_SIZE_CAP
        self.deployments = dict(DEFAULT_DEPLOYMENTS)

    # -- addresses ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.root + path

    def base_url(self, provider_key: str, scenario: str | None = None) -> str:
        """The base URL a credential of `provider_key` uses; `scenario` forces one."""
        path = BASE_PATHS[provider_key]
        if scenario:
            prefix, _, rest = path.lstrip("/").partition("/")
            path = f"/{prefix}/s/{scenario}" + (f"/{rest}" if rest else "")
        return self.root + path

    def requests_to(self, prefix: str) -> list[RecordedRequest]:
        """The recorded requests whose path starts with `prefix` ("/anthropic/")."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    # -- handling -----------------------------------------------------------------------------
    def dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        length = int(headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append(RecordedRequest(method, handler.path, headers, body))
        query = {name: values[0] for name, values in parse_qs(split.query).items()}
        segments = split.path.split("/")[1:]
        prefix, rest = (segments[0] if segments else ""), segments[1:]
        req = FakeRequest(method, "/" + "/".join(rest), query, headers, body, self)
        try:
            if prefix == "_test":
                reply = self._test_route(req, handler)
            else:
                reply = self._provider_route(prefix, req)
            if reply is RESET:
                self._reset_connection(handler)
            elif reply is not None:
                self._send(handler, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (timeouts)

    def _provider_route(self, prefix: str, req: FakeRequest) -> Reply | object:
        provider = PROVIDERS.get(prefix)
        if provider is None:
            return Reply(404, b"404 page not found", content_type="text/plain")
        path_scenario = None
        parts = req.path.split("/")  # ['', 's', '<scenario>', ...]
        if len(parts) >= 3 and parts[1] == "s":
            path_scenario = parts[2]
            req.path = "/" + "/".join(parts[3:])
            if path_scenario not in SCENARIOS:
                return Reply(
                    400, f"unknown fake scenario {path_scenario!r}", content_type="text/plain"
                )
        key = provider.key(req)
        scenario = path_scenario or scenario_of(key)
        if scenario is None and provider.requires_key and not key:
            return provider.missing_key(req)
        if scenario == "reset":
            return RESET
        if scenario == "malformed":
            return Reply(200, MALFORMED_BODY, content_type="text/html; charset=utf-8")
        if scenario == "deepjson":
            return Reply(200, DEEP_JSON_BODY, content_type="application/json")
        if scenario == "hang":
            time.sleep(self.hang_seconds)
        elif scenario == "slow":
            time.sleep(SLOW_SECONDS)
        reply = provider.error(scenario, req) if scenario else None
        if reply is None and scenario == "badusage":
            return provider.spoil_usage(provider.handle(req))
        return reply or provider.handle(req)

    def _test_route(self, req: FakeRequest, handler: BaseHTTPRequestHandler) -> Reply | None:
        path = req.path
        if path == "/ok":
            return Reply(200, {"ok": True, "path": path})
        if path == "/slow":
            time.sleep(SLOW_SECONDS)
            return Reply(200, {"ok": True})
        if path == "/redirect/same":  # relative Location on the same host
            return Reply(302, b"", headers={"Location": "/_test/ok"})
        if path == "/redirect/absolute-same":
            return Reply(302, b"", headers={"Location": self.url("/_test/ok")})
        if path == "/redirect/other":
            return Reply(302, b"", headers={"Location": "http://other-host.invalid/latest/"})
        if path == "/redirect/metadata":
            return Reply(302, b"", headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        if path == "/redirect/loop":
            return Reply(302, b"", headers={"Location": "/_test/redirect/loop"})
        if path == "/big":
            size = req.int_query("bytes", 4096)
            if req.query.get("chunked"):
                self._send_chunked(handler, b"x" * size)
                return None
            return Reply(200, b"x" * size, content_type="application/octet-stream")
        if path == "/gzip":
            size = req.int_query("bytes", 4096)
            return Reply(
                200,
                gzip.compress(b"0" * size),
                headers={"Content-Encoding": "gzip"},
                content_type="application/octet-stream",
            )
        if path == "/drip":
            self._drip(handler, req.int_query("bytes", 100), float(req.query.get("every", 0.25)))
            return None
        if path.startswith("/html502"):
            return Reply(502, HTML_502, content_type="text/html")
        return Reply(404, b"404 page not found", content_type="text/plain")

    # -- writing ------------------------------------------------------------------------------
    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        data = reply.payload()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if data:
            handler.wfile.write(data)

    @staticmethod
    def _send_chunked(handler: BaseHTTPRequestHandler, data: bytes) -> None:
        handler.protocol_version = "HTTP/1.1"  # chunked coding is an HTTP/1.1 feature
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for start in range(0, len(data), 1024):
            piece = data[start : start + 1024]
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        handler.wfile.write(b"0\r\n\r\n")

    @staticmethod
    def _drip(handler: BaseHTTPRequestHandler, size: int, every: float) -> None:
        """Announce `size` bytes, then send one every `every` seconds (a trickling server)."""
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        for _ in range(size):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(every)

    @staticmethod
    def _reset_connection(handler: BaseHTTPRequestHandler) -> None:
        """Close without answering; SO_LINGER 0 makes the close a TCP reset."""
        handler.close_connection = True
        sock = handler.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
