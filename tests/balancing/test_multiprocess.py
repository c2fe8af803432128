"""The routing engine across real OS processes: several processes share one rotation and one
set of cooldowns on the real Redis (`redis_url`), and keep routing when their Redis is killed
and restarted under them (a private redis-server on a free port, never the shared one).

The workers run in processes started with the "spawn" method, so each is a fresh interpreter
that imports only this module, redis-py and the routing engine (no Django). Each reports one
dict on a queue; a worker that raises reports its traceback instead, and the test fails with it.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import time
import traceback
import uuid
from collections import Counter

import pytest

from balancing.routing import COOLING_DOWN, IN_ROTATION, Router
from upstream.errors import RateLimited

SPAWN = multiprocessing.get_context("spawn")
PROCESSES = 4
WEIGHTED = ["a", "b", "b", "c", "c", "c"]  # weights 1, 2, 3
WAIT = 20.0  # seconds any single wait may take before the test gives up


def unique_pool() -> str:
    return f"ws:mp:{uuid.uuid4().hex}:llm"


# -- what runs in the worker processes ---------------------------------------------------------


def _report(results, work, *args) -> None:
    """Runs `work(*args)` and puts its dict on `results`, or its traceback as {"error": ...}."""
    try:
        results.put(work(*args))
    except BaseException:
        results.put({"error": traceback.format_exc()})


def _pick_batch(url: str, pool: str, entry_ids: list[str], count: int, start) -> dict:
    """`count` picks as fast as possible, once every worker is connected and ready."""
    router = Router.from_url(url)
    router.shared.client.ping()  # connected before the start, so the picks really overlap
    start.wait(timeout=WAIT)
    started = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on Linux
    chosen = Counter(router.pick(pool, entry_ids).entry_id for _ in range(count))
    finished = time.monotonic()
    return {"chosen": dict(chosen), "mode": router.mode, "started": started, "finished": finished}


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _pick_until_stopped(
    url: str, pool: str, entry_ids: list[str], slot: int, start, stop, progress, shared
) -> dict:
    """Picks in a loop until `stop` is set, publishing its pick count and whether it routes on
    Redis in `progress[slot]` and `shared[slot]`; never lets a pick's exception escape."""
    log = _Messages()
    logging.getLogger("balancing.routing").addHandler(log)
    router = Router.from_url(url, retry_seconds=0.2)
    router.shared.client.ping()
    modes = [router.mode]
    picks, raised, wrong = 0, [], []
    start.wait(timeout=WAIT)
    while not stop.is_set():
        try:
            entry_id = router.pick(pool, entry_ids).entry_id
        except Exception as exc:  # the assertion is that this never happens
            raised.append(repr(exc))
        else:
            if entry_id not in entry_ids:
                wrong.append(entry_id)
        picks += 1
        if router.mode != modes[-1]:
            modes.append(router.mode)
        progress[slot] = picks
        shared[slot] = router.mode == "shared"
        time.sleep(0.0005)  # a busy process, not a spinning one: leaves the CPUs to Redis
    return {
        "picks": picks,
        "raised": raised[:5],
        "raised_count": len(raised),
        "wrong": wrong[:5],
        "wrong_count": len(wrong),
        "modes": modes,
        "log": log.messages,
    }


# -- helpers for the test process --------------------------------------------------------------


class Workers:
    """Spawned processes that each run one worker function and report one dict."""

    def __init__(self, work, args_per_process: list[tuple]):
        self.results = SPAWN.Queue()
        self.processes = [
            SPAWN.Process(target=_report, args=(self.results, work, *args), daemon=True)
            for args in args_per_process
        ]

    def __enter__(self) -> Workers:
        for process in self.processes:
            process.start()
        return self

    def collect(self) -> list[dict]:
        reports = []
        try:
            for _ in self.processes:
                reports.append(self.results.get(timeout=WAIT))
        except queue.Empty:
            pytest.fail(f"only {len(reports)} of {len(self.processes)} workers reported")
        errors = [report["error"] for report in reports if "error" in report]
        assert not errors, f"a worker raised:\n{errors[0]}"
        return reports

    def __exit__(self, *exc_info) -> None:
        for process in self.processes:
            process.join(timeout=5)
        for process in self.processes:
            if process.is_alive():
                process.kill()
                process.join()


def wait_for(condition, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


# -- the tests -----------------------------------------------------------------------------------


def test_concurrent_processes_share_one_weighted_rotation(redis_url):
    """10,000 picks from 4 processes at once: each entry gets its exact weighted share (±1)."""
    pool, total = unique_pool(), 10_000
    start = SPAWN.Barrier(PROCESSES)
    args = [(redis_url, pool, WEIGHTED, total // PROCESSES, start)] * PROCESSES
    with Workers(_pick_batch, args) as workers:
        reports = workers.collect()

    assert all(report["mode"] == "shared" for report in reports)
    # They really ran at the same time: every worker started before any had finished.
    assert max(r["started"] for r in reports) < min(r["finished"] for r in reports)
    counts = sum((Counter(report["chosen"]) for report in reports), Counter())
    assert sum(counts.values()) == total
    weights = Counter(WEIGHTED)
    assert set(counts) == set(weights)
    for entry_id, weight in weights.items():
        share = total * weight / len(WEIGHTED)
        assert abs(counts[entry_id] - share) <= 1, (entry_id, counts[entry_id], share)


def test_an_entry_cooled_down_is_never_picked_by_any_process(redis_url):
    """b is rate limited (60 s on the real clock): 6,000 concurrent picks from 4 processes never
    return it, and a and c split them exactly by their weights, 1:3."""
    pool, total = unique_pool(), 6_000
    parent = Router.from_url(redis_url)
    cooldown = parent.report_failure(pool, "b", RateLimited(retry_after=5))
    assert cooldown.seconds == 60
    assert parent.state(pool, WEIGHTED)["b"].state == COOLING_DOWN

    start = SPAWN.Barrier(PROCESSES)
    args = [(redis_url, pool, WEIGHTED, total // PROCESSES, start)] * PROCESSES
    with Workers(_pick_batch, args) as workers:
        reports = workers.collect()

    assert all(report["mode"] == "shared" for report in reports)
    assert max(r["started"] for r in reports) < min(r["finished"] for r in reports)
    counts = sum((Counter(report["chosen"]) for report in reports), Counter())
    assert "b" not in counts
    assert counts == {"a": total // 4, "c": total * 3 // 4}
    states = parent.state(pool, WEIGHTED)
    assert states["b"].state == COOLING_DOWN and states["b"].until > time.time()
    assert states["a"].state == states["c"].state == IN_ROTATION


def test_processes_keep_routing_through_a_redis_restart(private_redis):
    """Redis is killed while 3 processes pick in a loop, then restarted on the same port: no
    pick raises, every pick returns an entry, and each process goes back to shared state."""
    processes, pool, entry_ids = 3, unique_pool(), ["a", "b", "c", "d"]
    start, stop = SPAWN.Barrier(processes + 1), SPAWN.Event()
    progress = SPAWN.Array("l", processes, lock=False)  # picks so far, per worker
    shared = SPAWN.Array("b", processes, lock=False)  # 1 while the worker routes on Redis
    args = [
        (private_redis.url, pool, entry_ids, slot, start, stop, progress, shared)
        for slot in range(processes)
    ]

    def all_shared(value: bool) -> bool:
        return all(bool(flag) == value for flag in shared)

    def picks_continue(count: int = 50):
        """Waits until every worker has made `count` more picks than now."""
        marks = list(progress)
        wait_for(
            lambda: all(p >= m + count for p, m in zip(progress, marks, strict=True)),
            f"{count} more picks from every worker",
        )

    with Workers(_pick_until_stopped, args) as workers:
        try:
            start.wait(timeout=WAIT)
            picks_continue()
            assert all_shared(True)

            private_redis.kill()  # halfway: the workers are mid-loop
            wait_for(lambda: all_shared(False), "every worker to fall back to local state")
            picks_continue()  # and they go on picking without Redis

            private_redis.start()  # same port, empty: rotation and scripts start afresh
            wait_for(lambda: all_shared(True), "every worker to return to Redis")
            picks_continue()
        finally:
            stop.set()
        reports = workers.collect()

    for report in reports:
        assert report["raised_count"] == 0, report["raised"]
        assert report["wrong_count"] == 0, report["wrong"]
        assert report["modes"] == ["shared", "local", "shared"]
        assert len(report["log"]) == 2, report["log"]  # once down, once back
        assert "process-local" in report["log"][0] and "back" in report["log"][1]
    assert sum(report["picks"] for report in reports) >= processes * 150
    # The picks after the restart went to the new server's shared rotation.
    client = private_redis.client()
    try:
        assert client.hexists(f"lb:pool:{pool}", "idx")
    finally:
        client.close()
