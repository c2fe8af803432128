"""An OpenAI-compatible chat stream that takes its time: CHUNKS content chunks EVERY seconds
apart (about 2 s in all), then `data: [DONE]`, on a threaded HTTP server of its own. For tests
that need a stream still open when they act (a client leaving mid-stream, the stream cap).
The `slow_upstream` fixture (tests/fakes/fixtures.py) is its port."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler

CHUNKS = 20
EVERY = 0.1  # seconds between chunks


def token(index: int) -> str:
    return f"t{index} "


class SlowStream(BaseHTTPRequestHandler):
    """Answers any POST with the slow stream."""

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
                        {"index": 0, "delta": {"content": token(i)}, "finish_reason": None}
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
