"""An OpenAI-compatible upstream that never limits, for the concurrent-streams benchmark: one
asyncio process (no thread per connection), as many streams at once as the file descriptors
allow, run as its own process:

    python -m tests.benchmarks.stream_upstream PORT [CHUNKS [INTERVAL_SECONDS [DELAY_MS]]]

POST .../chat/completions with `"stream": true` answers as OpenAI does, in server-sent events
over chunked transfer encoding: the role and the first content chunk at once, then one content
chunk every INTERVAL (20 chunks 0.25 s apart by default: about 5 s a stream), then the finish
chunk, a usage chunk and `data: [DONE]`. Without `stream` it answers the whole completion after
DELAY_MS (0 by default: a provider's time to first byte; `POST /delay/MS` changes it).
`max_tokens` caps the chunks (a one-token stream ends right after its first token). Chunk i
carries `content(i)`, so a client can check it received the whole text (`expected_text`).
Connections are kept alive. Prints `ready` once listening.

Faults, for the fault tests (tests/test_faults.py), each on the streams in progress when it
comes (later requests are answered as usual):
- SIGUSR1: they hang: nothing more is sent, the connections stay open;
- SIGUSR2: their connections are reset (TCP RST, as a crashed or cut-off provider does).
Each prints `hung N` or `reset N`: how many streams it hit.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import socket
import struct
import sys

MODEL = "gpt-4o-mini"
RATE_LIMIT_HEADERS = (
    b"x-ratelimit-limit-requests: 10000\r\n"
    b"x-ratelimit-remaining-requests: 9999\r\n"
    b"x-ratelimit-reset-requests: 6ms\r\n"
)


def content(index: int) -> str:
    return f"w{index} "


def expected_text(chunks: int) -> str:
    return "".join(content(i) for i in range(chunks))


def _event(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _chunk(delta: dict, finish: str | None = None) -> bytes:
    return _event(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def _usage(tokens: int) -> dict:
    return {"prompt_tokens": 9, "completion_tokens": tokens, "total_tokens": 9 + tokens}


def _framed(data: bytes) -> bytes:
    """One chunk of chunked transfer encoding."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class Upstream(asyncio.Protocol):
    chunks = 20
    interval = 0.25
    delay = 0.0  # before a whole (non-streamed) answer: a provider's time to first byte
    events: list[bytes] = []  # content chunk i, made once
    streaming: set[Upstream] = set()  # the connections answering a stream now

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.buffer = bytearray()
        self.busy = False  # answering a stream; the next request waits in the buffer
        self.timer: asyncio.TimerHandle | None = None
        self.close_after = False

    def connection_lost(self, exc: Exception | None) -> None:
        Upstream.streaming.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    def hang(self) -> None:
        """Send nothing more; keep the connection open."""
        Upstream.streaming.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def reset(self) -> None:
        """Close the connection with a TCP RST (SO_LINGER 0), not an orderly FIN."""
        self.hang()
        self.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._serve()

    def _serve(self) -> None:
        while not self.busy and not self.transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.close_after = headers.get("connection", "").lower() == "close"
            self._answer(head[0].split(" "), body)

    def _answer(self, request_line: list[str], body: bytes) -> None:
        if len(request_line) >= 2 and request_line[1].startswith("/delay/"):
            Upstream.delay = float(request_line[1].removeprefix("/delay/")) / 1000
            self._respond(b"200 OK", b"{}")
            return
        if len(request_line) < 2 or not request_line[1].endswith("/chat/completions"):
            self._respond(b"404 Not Found", b'{"error":{"message":"not found"}}')
            return
        try:
            request = json.loads(body)
        except ValueError:
            self._respond(b"400 Bad Request", b'{"error":{"message":"bad json"}}')
            return
        count = self.chunks
        if isinstance(request.get("max_tokens"), int) and request["max_tokens"] > 0:
            count = min(count, request["max_tokens"])
        if not request.get("stream"):
            answer = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": expected_text(count)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": _usage(count),
            }
            body = json.dumps(answer, separators=(",", ":")).encode()
            if not self.delay:
                self._respond(b"200 OK", body)
                return
            self.busy = True
            self.timer = asyncio.get_running_loop().call_later(self.delay, self._late, body)
            return
        self.busy = True
        Upstream.streaming.add(self)
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n"
            + RATE_LIMIT_HEADERS
            + b"\r\n"
        )
        loop = asyncio.get_running_loop()
        self._send(0, count, loop.time(), loop)

    def _send(self, index: int, count: int, started: float, loop) -> None:
        self.timer = None
        if self.transport.is_closing():
            return
        payload = self.events[index]
        if index == 0:
            payload = _chunk({"role": "assistant", "content": ""}) + payload
        if index + 1 < count:
            self.transport.write(_framed(payload))
            self.timer = loop.call_at(
                started + (index + 1) * self.interval, self._send, index + 1, count, started, loop
            )
            return
        payload += _chunk({}, "stop")
        payload += _event(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": MODEL,
                "choices": [],
                "usage": _usage(count),
            }
        )
        payload += b"data: [DONE]\n\n"
        self.transport.write(_framed(payload) + b"0\r\n\r\n")
        self.busy = False
        Upstream.streaming.discard(self)
        self._finished()

    def _late(self, body: bytes) -> None:
        self.timer, self.busy = None, False
        if not self.transport.is_closing():
            self._respond(b"200 OK", body)

    def _respond(self, status: bytes, body: bytes) -> None:
        self.transport.write(
            b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s"
            % (status, len(body), RATE_LIMIT_HEADERS, body)
        )
        self._finished()

    def _finished(self) -> None:
        if self.close_after:
            self.transport.close()
        elif self.buffer:
            asyncio.get_running_loop().call_soon(self._serve)


def raise_file_limit() -> None:
    """Thousands of sockets: the soft limit on open files up to the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def fault(name: str) -> None:
    """Hang (or reset) every stream in progress; says how many."""
    hit = list(Upstream.streaming)
    for upstream in hit:
        getattr(upstream, name)()
    print(f"{'hung' if name == 'hang' else 'reset'} {len(hit)}", flush=True)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, fault, "hang")
    loop.add_signal_handler(signal.SIGUSR2, fault, "reset")
    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=8192)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    port = int(sys.argv[1])
    if len(sys.argv) > 2:
        Upstream.chunks = int(sys.argv[2])
    if len(sys.argv) > 3:
        Upstream.interval = float(sys.argv[3])
    if len(sys.argv) > 4:
        Upstream.delay = float(sys.argv[4]) / 1000
    Upstream.events = [_chunk({"content": content(i)}) for i in range(Upstream.chunks)]
    raise_file_limit()
    asyncio.run(serve(port))


if __name__ == "__main__":
    main()
