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
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings

from invocation.models import UsageRecord
from tests.conftest import shared_database_url
from tests.factories import CredentialFactory

ROOT = Path(__file__).resolve().parents[2]
CHUNKS = 20
EVERY = 0.1  # seconds between the upstream's chunks: a stream lasts about 2 s


class SlowStream(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat stream: CHUNKS chunks EVERY seconds apart, then [DONE]."""

    protocol_version = "HTTP/1.0"  # the body ends when the connection closes

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for i in range(CHUNKS):
                chunk = {
                    "id": "chatcmpl-slow",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "gpt-4o-mini",
                    "choices": [
                        {"index": 0, "delta": {"content": f"t{i} "}, "finish_reason": None}
                    ],
                }
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.flush()
                time.sleep(EVERY)
            self.wfile.write(b"data: [DONE]\n\n")
        except OSError:
            pass  # the gateway closed the stream: its client went away

    def log_message(self, *args) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def get(port: int, path: str, key: str | None = None) -> tuple[int, dict]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    answer = response.status, json.loads(response.read())
    connection.close()
    return answer


def open_streams_soon(port: int, expected: int, timeout: float = 3.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        streams = get(port, "/healthz")[1]["streams"]
        if streams["open"] == expected or time.monotonic() > deadline:
            return streams
        time.sleep(0.05)


@pytest.fixture
def slow_upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowStream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(slow_upstream, workspace, api_key, tmp_path):
    """gunicorn as the Procfile starts it, one worker capped at 2 streams; (port, API key)."""
    CredentialFactory(
        workspace=workspace,
        name="slow",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-slow"}),
        config={"base_url": f"http://127.0.0.1:{slow_upstream}/v1"},
    )
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        {
            "DATABASE_URL": shared_database_url(),
            "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
            "SECRET_KEY": settings.SECRET_KEY,
            "VAR_DIR": str(settings.VAR_DIR),
            "PROVIDER_URL_ALLOWLIST": f"127.0.0.1:{slow_upstream}",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": "1",
            "GATEWAY_MAX_STREAMS": "2",
            "GUNICORN_GRACEFUL_TIMEOUT": "1",
            "LOG_LEVEL": "WARNING",
        }
    )
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", "config/gunicorn.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                get(port, "/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not come up"
                time.sleep(0.1)
        yield port, api_key.secret, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.django_db(transaction=True)
def test_the_production_server_caps_its_streams_and_counts_them_down(server):
    port, key, master_pid = server
    first, second = Stream(port, key), Stream(port, key)
    for stream in (first, second):
        assert stream.status == 200
        stream.read_until(b'"content":"t0 "')  # the first token arrived: both are open
    streams = get(port, "/healthz")[1]["streams"]
    assert streams["open"] == 2 and streams["max"] == 2
    assert streams["pid"] not in (os.getpid(), master_pid)  # the worker's own count

    started = time.monotonic()
    refused = Stream(port, key)
    assert refused.status == 503
    assert refused.headers()["retry-after"] == "1"
    error = json.loads(refused.body())["error"]
    assert error["code"] == "too_many_streams" and error["type"] == "api_error"
    assert time.monotonic() - started < 2  # answered at once, never left hanging
    status, models = get(port, "/v1/models", key)  # other requests are still served
    assert status == 200 and models["data"]

    first.close()  # the client goes away mid-stream: the server notices on its next write
    assert open_streams_soon(port, 1, timeout=1.0)["open"] == 1  # and closes the upstream
    assert b"data: [DONE]" in second.body()  # read to its end
    assert open_streams_soon(port, 0)["open"] == 0

    again = Stream(port, key)
    assert again.status == 200
    assert b"data: [DONE]" in again.body()
    assert open_streams_soon(port, 0)["open"] == 0

    # The usage writer (a greenlet in this worker) wrote each stream's record off the path.
    deadline = time.monotonic() + 5
    while UsageRecord.objects.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    outcomes = sorted(UsageRecord.objects.values_list("outcome", flat=True))
    assert outcomes == ["client_disconnected", "success", "success"]
