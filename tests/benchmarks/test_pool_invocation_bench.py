"""Benchmark: end-to-end overhead of serving a call through a load-balancing pool (`invoke`:
cached route, routing pick, stats recording, rate-limit header reading) against a fake
OpenAI-compatible upstream on loopback, compared with the same `requests` call made directly in
the same run. Calls alternate direct / through the pool so drift hits both alike. Prints p50 and
p99 of both and the p50 overhead; asserts only that every call succeeded and rotation was fair.

Run: make bench (or .venv/bin/python -m pytest -m benchmark -s tests/benchmarks)
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from balancing.runtime import get_router
from balancing.services import ModelRef, pool_entry_add, pool_set_enabled
from invocation.failover import invoke
from tests.factories import CredentialFactory

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db]

REF = ModelRef(provider="openai", name="gpt-4o-mini", type="llm")
CREDENTIALS = 3
WARM_UP = 200
CALLS = 3_000
TARGET_OVERHEAD_P50_MS = 0.5  # the product target

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "pong"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
    }
).encode()
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}]}


class FakeUpstream(BaseHTTPRequestHandler):
    """A keep-alive chat-completions endpoint answering like OpenAI (rate-limit headers with
    budget left, so `invoke` parses them but never cools an entry down)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # status line, headers and body leave in one write (flushed per request)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(COMPLETION)))
        self.send_header("x-ratelimit-limit-requests", "10000")
        self.send_header("x-ratelimit-remaining-requests", "9999")
        self.send_header("x-ratelimit-reset-requests", "6ms")
        self.send_header("x-ratelimit-remaining-tokens", "1999990")
        self.send_header("x-ratelimit-reset-tokens", "0s")
        self.end_headers()
        self.wfile.write(COMPLETION)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def upstream_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeUpstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-upstream", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
    finally:
        server.shutdown()
        server.server_close()


def percentile(ordered: list[int], fraction: float) -> int:
    """The nearest-rank percentile of an ascending list."""
    return ordered[max(1, math.ceil(len(ordered) * fraction)) - 1]


def ms(nanoseconds: float) -> str:
    return f"{nanoseconds / 1e6:.3f} ms"


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_pool_invocation_overhead(
    request, settings, workspace, members, upstream_url, backend, pro_plan
):
    settings.REDIS_URL = request.getfixturevalue("redis_url") if backend == "redis" else ""
    # The test Redis database is shared with any other test run on this machine, and their
    # `redis_url` fixtures flush it; a flush restarts the pool's rotation, so strict fairness
    # is only checked when this marker survives the measured calls.
    marker = f"bench:pool-invocation:{os.getpid()}"
    scratch = redis.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None

    workspace.plan = pro_plan
    workspace.save(update_fields=["plan"])
    owner = members["owner"].user
    credentials = [
        CredentialFactory(
            workspace=workspace,
            name=f"bench key {n}",
            secret_data=json.dumps({"api_key": f"sk-test-bench-{n:06}"}),
            config={"base_url": upstream_url.removesuffix("/chat/completions")},
        )
        for n in range(CREDENTIALS)
    ]
    for credential in credentials:
        pool_entry_add(workspace=workspace, ref=REF, credential=credential, acting_user=owner)
    pool_set_enabled(workspace=workspace, ref=REF, enabled=True, acting_user=owner)

    session = requests.Session()
    statuses: Counter[int] = Counter()

    def call(credential):
        api_key = credential.values().get("api_key", "")
        response = session.post(
            upstream_url, json=BODY, headers={"Authorization": "Bearer " + api_key}, timeout=5
        )
        statuses[response.status_code] += 1
        assert response.status_code == 200, response.text
        return response

    # The direct call is the same `call` on one fixed credential: the difference is what the
    # pool adds (route lookup, pick, stats, header parsing), not the request building.
    direct_credential = credentials[0]

    def direct():
        return call(direct_credential)

    def pooled():
        return invoke(workspace=workspace, ref=REF, call=call)

    for _ in range(WARM_UP):
        direct()
        pooled()
    if scratch is not None:
        scratch.set(marker, "1", ex=600)

    direct_ns: list[int] = []
    pooled_ns: list[int] = []
    served: Counter[str] = Counter()

    def time_direct():
        started = time.perf_counter_ns()
        direct()
        direct_ns.append(time.perf_counter_ns() - started)

    def time_pooled():
        started = time.perf_counter_ns()
        result = pooled()
        pooled_ns.append(time.perf_counter_ns() - started)
        served[str(result.credential.pk)] += 1

    began = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        for i in range(CALLS):
            # Alternate the order too, so neither side always runs right after the other.
            if i % 2:
                time_pooled()
                time_direct()
            else:
                time_direct()
                time_pooled()
    elapsed = time.perf_counter() - began
    undisturbed = scratch is None or bool(scratch.delete(marker))
    session.close()
    if scratch is not None:
        scratch.close()

    direct_ns.sort()
    pooled_ns.sort()
    direct_p50, pooled_p50 = percentile(direct_ns, 0.5), percentile(pooled_ns, 0.5)
    direct_p99, pooled_p99 = percentile(direct_ns, 0.99), percentile(pooled_ns, 0.99)
    print(
        f"\n[benchmark] pool invocation {backend}: direct p50 {ms(direct_p50)}, "
        f"through pool p50 {ms(pooled_p50)}, overhead p50 {ms(pooled_p50 - direct_p50)} "
        f"(target ≤ {TARGET_OVERHEAD_P50_MS} ms); p99 direct {ms(direct_p99)}, "
        f"through pool {ms(pooled_p99)}, overhead p99 {ms(pooled_p99 - direct_p99)}"
    )
    print(
        f"[benchmark] pool invocation {backend}: {CALLS} calls each, {CREDENTIALS}-credential "
        f"pool, {elapsed:.1f} s, {len(queries)} DB queries during the measured calls "
        f"(route cached {settings.LOAD_BALANCING_CONFIG_CACHE_SECONDS:g} s), "
        f"served {sorted(served.values())}"
        + ("" if undisturbed else "; Redis was flushed by another test run meanwhile")
    )

    assert statuses == {200: 2 * (WARM_UP + CALLS)}
    assert get_router().mode == ("shared" if backend == "redis" else "local")
    assert set(served) == {str(c.pk) for c in credentials}
    if undisturbed:  # round-robin is strict: exact thirds, give or take the round's end
        third = CALLS / CREDENTIALS
        assert all(abs(count - third) <= 1 for count in served.values()), served
