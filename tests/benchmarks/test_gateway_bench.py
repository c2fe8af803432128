"""Benchmark: the gateway served by gunicorn as in production (config/gunicorn.py, PostgreSQL,
Redis), against an OpenAI-compatible upstream on loopback, with three credentials in a pool,
compared in the same run with calling the upstream directly:

- sequential chat requests: p50 overhead over direct (target ≤ 1.5 ms), next to the floor: a
  bare forwarding app (floor_proxy.py) under the same gunicorn configuration, which is what
  one extra Python HTTP hop costs on this machine before any gateway work;
- throughput with 8 concurrent clients (target ≥ half of the direct upstream's);
- resident memory of the web workers over 10,000 requests (target growth < 10 MB).

The upstream answers after UPSTREAM_DELAY_MS, standing in for a provider's time to first byte
(a real model takes hundreds of ms); 0 would measure two Python HTTP servers racing for the
same two cores rather than the gateway. Prints figures; asserts only that calls succeeded.

Run: make bench (needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time

import pytest
import redis
import requests

from tests.benchmarks.stack import (
    ROOT,
    create_database,
    create_workspace,
    free_port,
    percentile,
    rss_kib,
    wait_until_up,
)

pytestmark = pytest.mark.benchmark

DB_NAME = "console_gateway_bench"
REDIS = "redis://127.0.0.1:6379/13"
UPSTREAM_DELAY_MS = 20
WORKERS = 2
THREADS = 16
SEQUENTIAL = 1_000
CONCURRENCY = 8
THROUGHPUT_SECONDS = 8
MEMORY_REQUESTS = 10_000
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """(upstream URL, gateway URL, API key, worker pids, floor proxy URL); everything stopped
    afterwards."""
    database_url = create_database(DB_NAME)
    redis.Redis.from_url(REDIS).flushdb()  # no cooldowns left by an earlier run
    upstream_port, gateway_port, floor_port = free_port(), free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PROVIDER_URL_ALLOWLIST": f"127.0.0.1:{upstream_port}",
        "VAR_DIR": str(tmp_path_factory.mktemp("var")),
        "WEB_CONCURRENCY": str(WORKERS),
        "GUNICORN_THREADS": str(THREADS),
        "GUNICORN_BIND": f"127.0.0.1:{gateway_port}",
        "LOG_LEVEL": "WARNING",
    }
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    key = create_workspace(env, upstream_url, credentials=3)
    upstream = subprocess.Popen(
        [python, "tests/benchmarks/upstream.py", str(upstream_port), str(UPSTREAM_DELAY_MS)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    gunicorn = subprocess.Popen(
        [python, "-m", "gunicorn", "config.wsgi", "-c", "config/gunicorn.py"],
        cwd=ROOT,
        env=env,
    )
    floor = subprocess.Popen(
        [python, "-m", "gunicorn", "tests.benchmarks.floor_proxy", "-c", "config/gunicorn.py"],
        cwd=ROOT,
        env={**env, "UPSTREAM": upstream_url, "GUNICORN_BIND": f"127.0.0.1:{floor_port}"},
    )
    try:
        assert upstream.stdout.readline().strip() == b"ready"
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        floor_url = f"http://127.0.0.1:{floor_port}"
        wait_until_up(f"{gateway_url}/healthz", gunicorn)
        wait_until_up(floor_url, floor)
        workers = [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-P", str(gunicorn.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        yield upstream_url, gateway_url, key, workers, floor_url
    finally:
        for process in (gunicorn, floor, upstream):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def direct_call(session: requests.Session, upstream: str) -> None:
    response = session.post(
        f"{upstream}/v1/chat/completions",
        json={**BODY, "model": "gpt-4o-mini"},
        headers={"Authorization": "Bearer sk-bench-0"},
        timeout=10,
    )
    assert response.status_code == 200


def floor_call(session: requests.Session, floor: str) -> None:
    response = session.post(floor, json={**BODY, "model": "gpt-4o-mini"}, timeout=10)
    assert response.status_code == 200


def gateway_call(session: requests.Session, gateway: str, key: str) -> None:
    response = session.post(
        f"{gateway}/v1/chat/completions",
        json=BODY,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the upstream."


def throughput(call, seconds: float) -> float:
    done = [0] * CONCURRENCY
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            call(session)
            done[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONCURRENCY)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def test_gateway_overhead_throughput_and_memory(stack):
    upstream, gateway, key, workers, floor = stack
    session = requests.Session()
    for _ in range(200):  # warm-up: connections, route caches, JIT-free but cache-warm
        direct_call(session, upstream)
        floor_call(session, floor)
        gateway_call(session, gateway, key)

    direct, bare, through = [], [], []
    calls = [
        (direct, lambda: direct_call(session, upstream)),
        (bare, lambda: floor_call(session, floor)),
        (through, lambda: gateway_call(session, gateway, key)),
    ]
    for i in range(SEQUENTIAL):
        for sink, call in calls[i % 3 :] + calls[: i % 3]:  # rotate who goes first
            started = time.perf_counter()
            call()
            sink.append((time.perf_counter() - started) * 1000)
    p50 = {
        name: statistics.median(v)
        for name, v in (("direct", direct), ("floor", bare), ("gateway", through))
    }
    overhead = p50["gateway"] - p50["direct"]
    print(
        f"\n[benchmark] gateway sequential chat ({UPSTREAM_DELAY_MS} ms upstream, 3-credential "
        f"pool, {WORKERS} gthread workers × {THREADS} threads): direct p50 {p50['direct']:.2f} ms, "
        f"gateway p50 {p50['gateway']:.2f} ms, overhead p50 {overhead:.2f} ms (target ≤ 1.5 ms); "
        f"floor (bare forwarding app, same gunicorn) overhead p50 "
        f"{p50['floor'] - p50['direct']:.2f} ms, so the gateway's own work costs "
        f"{p50['gateway'] - p50['floor']:.2f} ms; p99 direct {percentile(direct, 0.99):.2f} ms, "
        f"gateway {percentile(through, 0.99):.2f} ms"
    )

    direct_rate = throughput(lambda s: direct_call(s, upstream), THROUGHPUT_SECONDS)
    gateway_rate = throughput(lambda s: gateway_call(s, gateway, key), THROUGHPUT_SECONDS)
    print(
        f"[benchmark] throughput with {CONCURRENCY} clients: direct {direct_rate:.0f} req/s, "
        f"gateway {gateway_rate:.0f} req/s = {gateway_rate / direct_rate:.0%} of direct "
        "(target ≥ 50%)"
    )

    before = {pid: rss_kib(pid) for pid in workers}
    done = [0]

    def hammer(_: int) -> None:
        own = requests.Session()
        while True:
            with lock:
                if done[0] >= MEMORY_REQUESTS:
                    return
                done[0] += 1
            gateway_call(own, gateway, key)

    lock = threading.Lock()
    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = {pid: rss_kib(pid) for pid in workers}
    growth = max((after[pid] - before[pid]) / 1024 for pid in workers)
    print(
        f"[benchmark] worker memory over {MEMORY_REQUESTS:,} requests: "
        + ", ".join(f"{before[p] / 1024:.1f} → {after[p] / 1024:.1f} MB" for p in workers)
        + f"; largest growth {growth:.1f} MB (target < 10 MB)"
    )
    assert done[0] == MEMORY_REQUESTS
