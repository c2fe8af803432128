"""A minimal OpenAI-compatible upstream for the gateway benchmark, run as its own process:
`python tests/benchmarks/upstream.py PORT DELAY_MS`. POST .../chat/completions answers a small
completion after DELAY_MS (a provider's time to first byte), with OpenAI's rate-limit headers."""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the upstream."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
    }
).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    delay = 0.0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.delay:
            time.sleep(self.delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("x-ratelimit-remaining-requests", "9999")
        self.send_header("x-ratelimit-reset-requests", "6ms")
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    port, delay_ms = int(sys.argv[1]), float(sys.argv[2])
    Handler.delay = delay_ms / 1000
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
