"""A streamed answer read to its end gives its connection back: the next call to the provider
reuses it instead of connecting again (a TCP handshake and a DNS lookup on the next call's
path to its first token). A provider that is slow to end the body after `data: [DONE]` does not
hold the stream's end back: the connection is closed instead, and the next call opens one.

The provider here is a loopback HTTP/1.1 server sending OpenAI's stream in chunked encoding on
kept-alive connections, counting the connections it accepts."""

from __future__ import annotations

import json
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from upstream.calling import get_adapter
from upstream.calls import ChatRequest, Message
from upstream.registry import get_provider

REQUEST = ChatRequest(model="gpt-4o-mini", messages=(Message("user", "Hello"),))


class KeptAliveStream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Provider

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}],
        }
        for event in (f"data: {json.dumps(chunk)}\n\n", "data: [DONE]\n\n"):
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
        time.sleep(self.server.end_after)  # then the body's end: the zero-length chunk
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def log_message(self, *args) -> None:
        pass


class Provider(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, end_after: float):
        super().__init__(("127.0.0.1", 0), KeptAliveStream)
        self.connections = 0
        self.end_after = end_after


@pytest.fixture
def provider(settings, request):
    server = Provider(end_after=request.param)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    settings.PROVIDER_URL_ALLOWLIST = [f"127.0.0.1:{port}"]
    yield server, {"api_key": "sk-test", "base_url": f"http://127.0.0.1:{port}/v1"}
    server.shutdown()
    server.server_close()


def streamed_text(credentials: dict) -> str:
    stream = get_adapter(get_provider("openai")).chat_stream(credentials, REQUEST)
    try:
        return "".join(chunk.delta for chunk in stream)
    finally:
        stream.close()


@pytest.mark.parametrize("provider", [0.0], indirect=True)
def test_streams_read_to_their_end_share_one_connection(provider):
    server, credentials = provider
    assert [streamed_text(credentials) for _ in range(3)] == ["Hi", "Hi", "Hi"]
    assert server.connections == 1


@pytest.mark.parametrize("provider", [2.0], indirect=True)
def test_a_provider_slow_to_end_the_body_does_not_hold_the_stream_back(provider):
    server, credentials = provider
    started = time.monotonic()
    assert streamed_text(credentials) == "Hi"
    assert time.monotonic() - started < 1.0  # not the 2 s the provider takes to end the body
    assert streamed_text(credentials) == "Hi"  # on a new connection: the first was closed
    assert server.connections == 2
