"""Benchmark: the per-call cost of the sync transport (upstream/transports/sync.py, urllib3)
against an equivalent `requests.Session` per thread, in the same run, on the same loopback
upstream (tests/benchmarks/upstream.py, answering at once).

Issue 19 asks for `requests.Session` per thread (trust_env off) unless it costs more than
0.1 ms a call over urllib3. Both sides do the same work: the guard's encoding and URL checks,
the guarded connection pools (the SSRF check where the connection is made), no redirects, the
capped read of the body, a `Response`. The only difference is the HTTP client around urllib3's
pools: requests' session, adapter and models, or urllib3's PoolManager directly. A third line
shows what the adapter and its driver add on top of the urllib3 transport (an OpenAI chat
through `upstream.calling`).

Calls are sequential, after a warm-up, in alternating rounds so both sides see the same
machine. Prints median, p99 and mean per call, and the difference; asserts only that the
calls succeeded.

Run: .venv/bin/python -m pytest -m benchmark -s -q tests/benchmarks/test_transport_bench.py
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from upstream.calling import get_adapter
from upstream.calls import ChatRequest, Message
from upstream.http import Request, Response
from upstream.registry import get_provider
from upstream.transports import guard
from upstream.transports.sync import (
    GuardedHTTPConnectionPool,
    GuardedHTTPSConnectionPool,
    SyncTransport,
    _read_capped,
)

pytestmark = pytest.mark.benchmark

ROOT = Path(__file__).resolve().parents[2]
CALLS = 2000  # per side
ROUNDS = 10  # alternating rounds of CALLS // ROUNDS calls
WARMUP = 200
THRESHOLD_MS = 0.1  # the issue's: more than this per call over urllib3 keeps urllib3
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}]}
HEADERS = {"Accept": "application/json", "Authorization": "Bearer sk-bench-0"}


class GuardedAdapter(HTTPAdapter):
    """requests' adapter on the sync transport's guarded connection pools."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }


class RequestsTransport:
    """The sync transport's `send()` on one `requests.Session` per thread (a Session is not
    thread-safe), trust_env off (no proxies or netrc from the environment)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            adapter = GuardedAdapter(pool_connections=64, pool_maxsize=64, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def send(self, request: Request) -> Response:
        connect_timeout, read_timeout, max_bytes = guard.limits(request.timeout, request.max_bytes)
        body, headers = guard.encode(
            dict(request.headers), json_body=request.json, data=request.data, files=request.files
        )
        url = guard.with_params(request.url, dict(request.params or {}))
        guard.check_url(url)
        started = time.monotonic()
        answer = self.session().request(
            request.method,
            url,
            data=body,
            headers=headers,
            timeout=(connect_timeout, read_timeout),
            allow_redirects=False,
            stream=True,
        )
        content = _read_capped(
            answer.raw, max_bytes=max_bytes, deadline=started + connect_timeout + read_timeout
        )
        return Response(
            status=answer.status_code,
            headers=answer.headers,
            content=content,
            url=url,
            elapsed=time.monotonic() - started,
        )


@pytest.fixture(scope="module")
def upstream():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "tests/benchmarks/upstream.py", str(port), "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout.readline().strip() == b"ready"
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def timed(call, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def figures(times: list[float]) -> tuple[float, float, float]:
    """(median, p99, mean) in ms."""
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return statistics.median(ordered) * 1e3, p99 * 1e3, statistics.fmean(ordered) * 1e3


def test_sync_transport_per_call_cost_urllib3_vs_requests(upstream, settings):
    settings.PROVIDER_URL_ALLOWLIST = [f"127.0.0.1:{upstream}"]
    url = f"http://127.0.0.1:{upstream}/v1/chat/completions"
    request = Request("POST", url, headers=HEADERS, json=BODY)
    urllib3_transport, requests_transport = SyncTransport(), RequestsTransport()
    openai = get_adapter(get_provider("openai"), urllib3_transport)
    credentials = {"api_key": "sk-bench-0", "base_url": f"http://127.0.0.1:{upstream}/v1"}
    chat = ChatRequest("gpt-4o-mini", (Message("user", "Say hello."),))

    def via_urllib3() -> None:
        answer = urllib3_transport.send(request)
        assert answer.status == 200 and answer.json()["choices"]

    def via_requests() -> None:
        answer = requests_transport.send(request)
        assert answer.status == 200 and answer.json()["choices"]

    def via_adapter() -> None:
        assert openai.chat(credentials, chat).content == "Hello from the upstream."

    sides = {"urllib3": via_urllib3, "requests": via_requests, "adapter": via_adapter}
    for call in sides.values():
        timed(call, WARMUP)
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(ROUNDS):
        for name, call in sides.items():
            times[name] += timed(call, CALLS // ROUNDS)

    results = {name: figures(values) for name, values in times.items()}
    print()
    print(f"sync transport, {CALLS} sequential small JSON calls each, loopback upstream")
    labels = {
        "urllib3": "urllib3 PoolManager (SyncTransport)",
        "requests": "requests.Session per thread",
        "adapter": "OpenAI chat: adapter + driver + SyncTransport",
    }
    for name, (median, p99, mean) in results.items():
        print(f"  {labels[name]:<46} median {median:.3f} ms  p99 {p99:.3f} ms  mean {mean:.3f} ms")
    extra = results["requests"][0] - results["urllib3"][0]
    extra_p99 = results["requests"][1] - results["urllib3"][1]
    print(f"  requests - urllib3: median {extra:+.3f} ms a call, p99 {extra_p99:+.3f} ms")
    print(
        f"  adapter + driver over the bare transport: median "
        f"{results['adapter'][0] - results['urllib3'][0]:+.3f} ms a call"
    )
    verdict = "keep urllib3" if extra > THRESHOLD_MS else "switch to requests"
    print(f"  threshold {THRESHOLD_MS} ms a call: {verdict}")
