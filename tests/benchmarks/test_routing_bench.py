"""Benchmark: the latency of one pick from a load-balancing pool, on the real Redis (one Lua round
trip) and on process-local state. Prints p50 and p99; asserts only that rotation stayed fair.

Run: make bench (or .venv/bin/python -m pytest -m benchmark -s tests/benchmarks)
"""

from __future__ import annotations

import math
import time
from collections import Counter

import pytest

from balancing.routing import Router

pytestmark = pytest.mark.benchmark

POOL = "ws:bench:openai:gpt-4o:llm"
ENTRIES = ["a", "b", "c", "d"]
WARM_UP = 1_000  # a multiple of len(ENTRIES): the measured picks start a fresh round
PICKS = 20_000
TARGET_P50_MS = {"redis": 0.3}  # the product target; process-local has none


def percentile(ordered: list[int], fraction: float) -> int:
    """The nearest-rank percentile of an ascending list."""
    return ordered[max(1, math.ceil(len(ordered) * fraction)) - 1]


def describe(nanoseconds: int) -> str:
    return f"{nanoseconds / 1e6:.3f} ms ({nanoseconds / 1e3:.1f} µs)"


@pytest.mark.parametrize("backend", ["redis", "local"])
def test_pick_latency(request, backend):
    if backend == "redis":
        router = Router.from_url(request.getfixturevalue("redis_url"))
    else:
        router = Router.local()
    for _ in range(WARM_UP):
        router.pick(POOL, ENTRIES)

    chosen: list[str | None] = []
    latencies: list[int] = []
    for _ in range(PICKS):
        started = time.perf_counter_ns()
        pick = router.pick(POOL, ENTRIES)
        latencies.append(time.perf_counter_ns() - started)
        chosen.append(pick.entry_id)

    latencies.sort()
    target = TARGET_P50_MS.get(backend)
    against = f"; target p50 ≤ {target} ms" if target else ""
    print(
        f"\n[benchmark] pick latency {backend}: p50 {describe(percentile(latencies, 0.5))}"
        f" p99 {describe(percentile(latencies, 0.99))}"
        f" ({PICKS} picks, {len(ENTRIES)}-entry pool{against})"
    )
    assert router.mode == ("shared" if backend == "redis" else "local")
    assert Counter(chosen) == {entry_id: PICKS // len(ENTRIES) for entry_id in ENTRIES}
