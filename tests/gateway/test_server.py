"""The stream cap in the production server process: gunicorn started as the Procfile starts it
(config/gunicorn.py: the gevent worker), one worker capped at two open streams, against an
upstream that streams slowly. Past the cap a stream is answered at once with 503 and
Retry-After while other requests are still served; the count (which /healthz reports with the
worker's process id) goes down within a second when a client goes away mid-stream, and when a
stream ends; the usage writer, a greenlet there, records each stream."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from invocation.models import UsageRecord
from tests.factories import CredentialFactory
from tests.production_server import ProductionServer, eventually


class Stream:
    """A client's streamed chat completion on its own connection, read as it comes."""

    def __init__(self, port: int, key: str):
        body = json.dumps(
            {
                "model": "openai/gpt-4o-mini",
                "messages": [{"role": "user", "content": "Hello"}],
                "stream": True,
            }
        ).encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        self.received = b""

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.received:
            data = self.sock.recv(65536)
            if not data:
                break
            self.received += data
        return self.received

    @property
    def status(self) -> int:
        return int(self.read_until(b"\r\n").split(b" ", 2)[1])

    def headers(self) -> dict[str, str]:
        head = self.read_until(b"\r\n\r\n").split(b"\r\n\r\n", 1)[0].decode()
        pairs = (line.split(":", 1) for line in head.split("\r\n")[1:])
        return {name.strip().lower(): value.strip() for name, value in pairs}

    def body(self) -> bytes:
        self.read_until(b"\x00never")  # to the end: the server closes the connection
        return self.received.split(b"\r\n\r\n", 1)[1]

    def close(self) -> None:
        self.sock.close()


def open_streams_soon(server: ProductionServer, expected: int, timeout: float = 3.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        streams = server.health()["streams"]
        if streams["open"] == expected or time.monotonic() > deadline:
            return streams
        time.sleep(0.05)


@pytest.fixture
def server(production_server, slow_upstream, workspace, api_key):
    """The production server, one worker capped at 2 streams, whose workspace streams from the
    slow upstream; (server, API key)."""
    CredentialFactory(
        workspace=workspace,
        name="slow",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-slow"}),
        config={"base_url": f"http://127.0.0.1:{slow_upstream}/v1"},
    )
    started = production_server(allow=[f"127.0.0.1:{slow_upstream}"], GATEWAY_MAX_STREAMS="2")
    return started, api_key.secret


@pytest.mark.django_db(transaction=True)
def test_the_production_server_caps_its_streams_and_counts_them_down(server):
    server, key = server
    port, master_pid = server.port, server.process.pid
    first, second = Stream(port, key), Stream(port, key)
    for stream in (first, second):
        assert stream.status == 200
        stream.read_until(b'"content":"t0 "')  # the first token arrived: both are open
    streams = server.health()["streams"]
    assert streams["open"] == 2 and streams["max"] == 2
    assert streams["pid"] not in (os.getpid(), master_pid)  # the worker's own count

    started = time.monotonic()
    refused = Stream(port, key)
    assert refused.status == 503
    assert refused.headers()["retry-after"] == "1"
    error = json.loads(refused.body())["error"]
    assert error["code"] == "too_many_streams" and error["type"] == "api_error"
    assert time.monotonic() - started < 2  # answered at once, never left hanging
    status, models = server.get("/v1/models", key)  # other requests are still served
    assert status == 200 and models["data"]

    first.close()  # the client goes away mid-stream: the server notices on its next write
    assert open_streams_soon(server, 1, timeout=1.0)["open"] == 1  # and closes the upstream
    assert b"data: [DONE]" in second.body()  # read to its end
    assert open_streams_soon(server, 0)["open"] == 0

    again = Stream(port, key)
    assert again.status == 200
    assert b"data: [DONE]" in again.body()
    assert open_streams_soon(server, 0)["open"] == 0

    # The usage writer (a greenlet in this worker) wrote each stream's record off the path.
    eventually(lambda: UsageRecord.objects.count() >= 3, timeout=5, what="3 usage records")
    outcomes = sorted(UsageRecord.objects.values_list("outcome", flat=True))
    assert outcomes == ["client_disconnected", "success", "success"]
