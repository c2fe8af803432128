"""The load generator of the concurrent-streams benchmark, run as its own process so that its
CPU is not the pytest process's: one asyncio loop, raw sockets (asyncio protocols) writing
HTTP/1.1 requests and parsing the answers' framing (chunked or not) and server-sent events
itself, so thousands of streams at once cost it little.

    python -m tests.benchmarks.stream_load 'JSON'

JSON gives `mode` and `targets` (each `{"name", "url", "key", "model", "headers"}`), with:

- `streams`: `n` streamed chat completions to the first target, opened at an even pace
  within `ramp` seconds (1 by default); each
  records its time to the first content token and to `data: [DONE]`, and whether it carried
  the whole text (`chunks` content chunks). `timeout` (seconds) bounds each stream. Streams
  that failed are counted by what went wrong (`errors`: an HTTP status, an error event with
  its code, a connection lost, a stream ended without [DONE]).
- `sequential`: `count` one-token streams, one at a time on a kept-alive connection per target,
  rotating between the targets so drift hits them alike (after `warmup` rounds); time to first
  token of each.
- `rps`: non-streamed completions from `clients` kept-alive connections to the first target,
  each sending its next request as soon as the last was answered, for `seconds`.

Prints one JSON line: the figures.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from urllib.parse import urlsplit

from tests.benchmarks.stream_upstream import expected_text


class Answer:
    """One request's answer, as it arrives: times are seconds since `started`. Events after the
    first token are kept as they came and decoded only by `check`, after the run, so the
    measured loop does the least work per event."""

    def __init__(self, started: float):
        self.started = started
        self.status = 0
        self.first_token: float | None = None
        self.done: float | None = None  # `data: [DONE]` (a stream) or the whole body
        self.events: list[bytes] = []  # every `data:` payload but [DONE]
        self.body = bytearray()
        self.error: str | None = None
        self.finished = asyncio.get_running_loop().create_future()

    def fail(self, error: str) -> None:
        if not self.finished.done():
            self.error = self.error or error
            self.finished.set_result(self)


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection answering one request at a time (keep-alive unless the server
    closes)."""

    def __init__(self) -> None:
        self.answer: Answer | None = None
        self.buffer = bytearray()
        self.closed = False
        self.transport: asyncio.Transport | None = None
        self.state, self.size = "idle", None

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self.answer
        if answer is not None and not answer.finished.done():
            if self.state == "body" and self.framing == "close":  # the body ends at EOF
                self._finish()
            else:
                answer.fail(f"connection lost ({exc or 'closed by the server'})")

    def data_received(self, data: bytes) -> None:
        if self.answer is None:
            return
        try:
            if self.state == "chunk" and self.size is None and not self.buffer:
                # The common case while streaming: exactly one whole chunk of events.
                end = data.find(b"\r\n")
                if 0 < end < 8 and data[:end].isalnum():
                    size = int(data[:end], 16)
                    if size and len(data) == end + size + 4:
                        self._body(data[end + 2 : end + 2 + size])
                        return
            self.buffer += data
            self._parse()
        except Exception as error:  # a malformed answer fails this request, not the run
            self.answer.fail(f"bad answer: {error!r}")
            self.transport.close()

    # -- requests ----------------------------------------------------------------------------
    def send(self, request: bytes, answer: Answer) -> Answer:
        self.answer, self.state, self.size, self.sse = answer, "head", None, bytearray()
        self.transport.write(request)
        return answer

    def _parse(self) -> None:
        answer = self.answer
        while not answer.finished.done():
            if self.state == "head":
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
                del self.buffer[: end + 4]
                answer.status = int(lines[0].split(" ", 2)[1])
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip().lower()
                self.is_sse = headers.get("content-type", "").startswith("text/event-stream")
                self.keep = headers.get("connection") != "close"
                if "chunked" in headers.get("transfer-encoding", ""):
                    self.framing, self.size = "chunked", None
                    self.state = "chunk"
                elif "content-length" in headers:
                    self.framing, self.size = "length", int(headers["content-length"])
                else:
                    self.framing, self.keep = "close", False
                if self.framing != "chunked":
                    self.state = "body"
                if self.framing == "length" and self.size == 0:
                    self._finish()
            elif self.framing == "chunked":
                if self.size is None:
                    end = self.buffer.find(b"\r\n")
                    if end < 0:
                        return
                    self.size = int(bytes(self.buffer[:end]).split(b";")[0], 16)
                    del self.buffer[: end + 2]
                if self.size == 0:  # the last chunk: no trailers expected, then CRLF
                    if len(self.buffer) < 2:
                        return
                    del self.buffer[:2]
                    self._finish()
                    return
                if len(self.buffer) < self.size + 2:
                    return
                self._body(bytes(self.buffer[: self.size]))
                del self.buffer[: self.size + 2]
                self.size = None
            else:
                if not self.buffer:
                    return
                data = bytes(self.buffer if self.size is None else self.buffer[: self.size])
                del self.buffer[: len(data)]
                self._body(data)
                if self.framing == "length":
                    self.size -= len(data)
                    if self.size == 0:
                        self._finish()

    def _body(self, data: bytes) -> None:
        if not self.is_sse:
            self.answer.body += data
            return
        if not self.sse and data.endswith(b"\n\n"):  # whole events only: no line carried over
            lines = data.split(b"\n")
        else:
            self.sse += data
            end = self.sse.rfind(b"\n")
            if end < 0:
                return
            lines = bytes(self.sse[:end]).split(b"\n")
            del self.sse[: end + 1]
        for line in lines:
            if line.startswith(b"data:"):
                self._event(line[5:].strip())

    def _event(self, payload: bytes) -> None:
        answer = self.answer
        if payload == b"[DONE]":
            answer.done = time.perf_counter() - answer.started
            return
        answer.events.append(payload)
        if answer.first_token is None and content(json.loads(payload)):
            answer.first_token = time.perf_counter() - answer.started

    def _finish(self) -> None:
        answer, self.answer = self.answer, None
        if answer.done is None:
            answer.done = time.perf_counter() - answer.started
        if answer.status != 200 and answer.error is None:
            answer.error = f"HTTP {answer.status}: {bytes(answer.body[:200]).decode('latin-1')}"
        if not self.keep:
            self.transport.close()
            self.closed = True
        answer.finished.set_result(answer)


def content(event: dict) -> str:
    """The text a chunk of a streamed chat completion carries."""
    return "".join(
        (choice.get("delta") or {}).get("content") or "" for choice in event.get("choices") or ()
    )


class Target:
    def __init__(self, spec: dict):
        self.name = spec["name"]
        parts = urlsplit(spec["url"])
        self.host, self.port, self.path = parts.hostname, parts.port or 80, parts.path
        self.key, self.model = spec["key"], spec["model"]
        self.headers = spec.get("headers") or {}

    def request(self, *, stream: bool, max_tokens: int | None = None) -> bytes:
        body: dict = {"model": self.model, "messages": [{"role": "user", "content": "Hello"}]}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if max_tokens:
            body["max_tokens"] = max_tokens
        data = json.dumps(body).encode()
        head = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Authorization: Bearer {self.key}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            *(f"{name}: {value}" for name, value in self.headers.items()),
        ]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + data

    async def connect(self) -> Connection:
        _, connection = await asyncio.get_running_loop().create_connection(
            Connection, self.host, self.port
        )
        return connection


class KeptAlive:
    """A connection to a target, reopened when the server closed it."""

    def __init__(self, target: Target):
        self.target, self.connection = target, None

    async def exchange(self, request: bytes) -> Answer:
        answer = Answer(time.perf_counter())
        if self.connection is None or self.connection.closed:
            self.connection = await self.target.connect()
        return await self.connection.send(request, answer).finished


def check(answer: Answer, text: str, *, stream: bool) -> str | None:
    """Why `answer` is not a complete, correct completion carrying `text`, or None."""
    if answer.error:
        return answer.error
    if stream:
        events = [json.loads(payload) for payload in answer.events]
        for event in events:
            if "error" in event:
                error = event["error"]
                return f"error event {error.get('code')}: {error.get('message')}"
        if answer.done is None or answer.first_token is None:
            return "stream ended without [DONE]"
        if not any(event.get("usage") for event in events):
            return "no usage chunk"
        got = "".join(content(event) for event in events)
    else:
        got = json.loads(answer.body)["choices"][0]["message"]["content"]
    return None if got == text else f"wrong text: {got[:60]!r}"


async def streams(target: Target, n: int, chunks: int, timeout: float, ramp: float) -> dict:
    """`n` streams opened at an even pace over `ramp` seconds ("at the same moment", as n
    clients would be, without measuring how fast this loop can open sockets in one burst)."""
    request, text = target.request(stream=True), expected_text(chunks)
    ttft, done, errors, timeouts, ends = [], [], {}, 0, []
    begin = time.perf_counter()

    async def one(delay: float) -> None:
        nonlocal timeouts
        await asyncio.sleep(delay)
        answer = Answer(time.perf_counter())
        connection = None
        try:
            async with asyncio.timeout(timeout):
                connection = await target.connect()
                await connection.send(request, answer).finished
        except TimeoutError:
            timeouts += 1
            ends.append(time.perf_counter() - begin)
            return
        except OSError as error:
            answer.fail(f"{type(error).__name__}: {error}")
        finally:
            if connection is not None and connection.transport is not None:
                connection.transport.close()
        ends.append(time.perf_counter() - begin)
        problem = check(answer, text, stream=True)
        if problem:
            errors[problem] = errors.get(problem, 0) + 1
            return
        ttft.append(answer.first_token)
        done.append(answer.done)

    await asyncio.gather(*(one(i * ramp / n) for i in range(n)))
    return {
        "target": target.name,
        "n": n,
        "completed": len(done),
        "timeouts": timeouts,
        "errors": errors,
        "ttft": ttft,
        "done": done,
        "all_done_after": max(ends),
    }


async def sequential(targets: list[Target], count: int, warmup: int) -> dict:
    """One-token streams, one at a time, rotating between targets; times to first token."""
    links = [KeptAlive(target) for target in targets]
    requests = [target.request(stream=True, max_tokens=1) for target in targets]
    text = expected_text(1)
    ttft: dict[str, list[float]] = {target.name: [] for target in targets}
    errors: dict[str, int] = {}
    for round_ in range(warmup + count):
        order = list(range(len(targets)))
        order = order[round_ % len(order) :] + order[: round_ % len(order)]
        for i in order:
            answer = await links[i].exchange(requests[i])
            problem = check(answer, text, stream=True)
            if problem:
                key = f"{targets[i].name}: {problem}"
                errors[key] = errors.get(key, 0) + 1
            elif round_ >= warmup:
                ttft[targets[i].name].append(answer.first_token)
    return {"ttft": ttft, "errors": errors}


async def rps(target: Target, clients: int, seconds: float, chunks: int) -> dict:
    request, text = target.request(stream=False), expected_text(chunks)
    completed, errors = 0, {}

    async def client(until: float, counted: bool) -> None:
        nonlocal completed
        link = KeptAlive(target)
        while time.perf_counter() < until:
            answer = await link.exchange(request)
            problem = check(answer, text, stream=False)
            if problem:
                errors[problem] = errors.get(problem, 0) + 1
            elif counted:
                completed += 1

    warm = time.perf_counter() + 1.0
    await asyncio.gather(*(client(warm, False) for _ in range(clients)))
    started = time.perf_counter()
    await asyncio.gather(*(client(started + seconds, True) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {"target": target.name, "rps": completed / elapsed, "errors": errors}


def main() -> None:
    config = json.loads(sys.argv[1])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    targets = [Target(spec) for spec in config["targets"]]
    mode = config["mode"]
    if mode == "streams":
        job = streams(
            targets[0],
            config["n"],
            config["chunks"],
            config.get("timeout", 120),
            config.get("ramp", 1.0),
        )
    elif mode == "sequential":
        job = sequential(targets, config["count"], config.get("warmup", 20))
    elif mode == "rps":
        job = rps(targets[0], config["clients"], config["seconds"], config["chunks"])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(asyncio.run(job)), flush=True)


if __name__ == "__main__":
    main()
