"""Requests and errors per pool entry, per minute, for the live pool view.

Calls are counted in this process's memory (a dict increment under a lock, no I/O on the
request path) and flushed to Redis about once a second by a daemon thread, as one pipeline of
HINCRBY per minute bucket (`lb:stats:<pool_key>:<minute>`, kept two hours). Reads sum the last
N buckets from Redis plus what this process has not flushed yet. Without Redis (embedded mode,
or while it is down) the counts stay in this process's buckets, which is the whole picture in
embedded mode.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import NamedTuple

import redis

logger = logging.getLogger(__name__)

BUCKET_TTL_SECONDS = 2 * 3600
KEEP_MINUTES = 61


class Counts(NamedTuple):
    requests: int = 0
    errors: int = 0


# (pool_key, minute) -> {"r:<entry>" or "e:<entry>": count}
Buckets = dict[tuple[str, int], dict[str, int]]


class PoolStats:
    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        clock: Callable[[], float] = time.time,
        flush_interval: float = 1.0,
    ):
        self.client = client
        self.clock = clock
        self.flush_interval = flush_interval
        self._lock = threading.Lock()
        self._pending: Buckets = defaultdict(lambda: defaultdict(int))
        self._local: Buckets = defaultdict(lambda: defaultdict(int))
        self._thread_pid: int | None = None

    # -- writing -----------------------------------------------------------------------------

    def record(self, pool_key: str, entry_id: str, *, ok: bool) -> None:
        minute = int(self.clock() // 60)
        with self._lock:
            bucket = self._pending[(pool_key, minute)]
            bucket[f"r:{entry_id}"] += 1
            if not ok:
                bucket[f"e:{entry_id}"] += 1
        if self.client is not None and self._thread_pid != os.getpid():
            self._start_flusher()

    def flush(self) -> None:
        """Moves pending counts to Redis (or to the local buckets without it)."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(lambda: defaultdict(int))
        if not pending:
            return
        if self.client is not None:
            try:
                pipe = self.client.pipeline(transaction=False)
                for (pool_key, minute), fields in pending.items():
                    key = f"lb:stats:{pool_key}:{minute}"
                    for field, count in fields.items():
                        pipe.hincrby(key, field, count)
                    pipe.expire(key, BUCKET_TTL_SECONDS)
                pipe.execute()
                return
            except (redis.RedisError, OSError):
                logger.debug("pool stats: Redis unavailable, keeping counts locally")
        with self._lock:
            for bucket_key, fields in pending.items():
                bucket = self._local[bucket_key]
                for field, count in fields.items():
                    bucket[field] += count
            self._forget_old()

    def _forget_old(self) -> None:
        oldest = int(self.clock() // 60) - KEEP_MINUTES
        for bucket_key in [k for k in self._local if k[1] < oldest]:
            del self._local[bucket_key]

    def _start_flusher(self) -> None:
        with self._lock:
            if self._thread_pid == os.getpid():
                return
            self._thread_pid = os.getpid()  # also after a fork: the parent's thread is gone
        thread = threading.Thread(target=self._flush_forever, name="pool-stats", daemon=True)
        thread.start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self.flush_interval)
            try:
                self.flush()
            except Exception:  # the flusher must never die; counts are best effort
                logger.exception("pool stats flush failed")

    # -- reading -----------------------------------------------------------------------------

    def windows(
        self, pool_key: str, entry_ids: Sequence[str], *, minutes: Sequence[int]
    ) -> dict[int, dict[str, Counts]]:
        """Several windows from one read: {minutes: {entry: Counts}}."""
        self.flush()
        now_minute = int(self.clock() // 60)
        longest = max(minutes)
        per_minute: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        if self.client is not None:
            try:
                pipe = self.client.pipeline(transaction=False)
                for age in range(longest):
                    pipe.hgetall(f"lb:stats:{pool_key}:{now_minute - age}")
                for age, fields in enumerate(pipe.execute()):
                    for field, count in fields.items():
                        name = field.decode() if isinstance(field, bytes) else field
                        per_minute[age][name] += int(count)
            except (redis.RedisError, OSError):
                logger.debug("pool stats: Redis unavailable, showing local counts only")
        with self._lock:
            for age in range(longest):
                for field, count in self._local.get((pool_key, now_minute - age), {}).items():
                    per_minute[age][field] += count
        result = {}
        for span in minutes:
            counts = {}
            for entry_id in dict.fromkeys(entry_ids):
                requests = sum(per_minute[age].get(f"r:{entry_id}", 0) for age in range(span))
                errors = sum(per_minute[age].get(f"e:{entry_id}", 0) for age in range(span))
                counts[entry_id] = Counts(requests, errors)
            result[span] = counts
        return result


def _flush_at_exit(stats: PoolStats) -> None:
    with contextlib.suppress(Exception):  # interpreter shutdown: nothing more to do
        stats.flush()


def register_exit_flush(stats: PoolStats) -> None:
    atexit.register(_flush_at_exit, stats)
