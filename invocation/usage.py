"""Writing usage records off the request path.

Every model call leaves one `UsageRecord`. Inserting it while the caller waits would add a
database round trip (and a commit) to every gateway request, so calls hand their record to
this process's `UsageWriter`, and a daemon thread inserts what has gathered every
`USAGE_WRITE_INTERVAL` seconds (half a second by default) with one multi-row INSERT. Records
keep the time of the call, not of the write.

- At exit (a gunicorn worker stopping or recycling, a management command ending) whatever is
  pending is written.
- A record whose credential or API key was deleted before the write keeps their names but
  loses the link; one whose workspace is gone is dropped.
- While the database is down records wait in memory (at most `USAGE_MAX_PENDING`; beyond that
  the oldest are dropped, and the log says how many) and are written once it is back.

`USAGE_WRITE_INTERVAL = 0` writes each record at once, in the caller's thread (the tests'
setting, so a test sees its records as soon as the call returns; `tests/invocation/test_usage.py`
exercises the batched writer itself).

Quotas do not depend on these records: the system-provider quota is checked and deducted
atomically in the caller's thread, before the call.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from collections import deque

from django.conf import settings
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    close_old_connections,
    connection,
    transaction,
)

from .models import UsageRecord

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


class UsageWriter:
    def __init__(self, *, interval: float, max_pending: int):
        self.interval = interval
        self.max_pending = max_pending
        self._pending: deque[UsageRecord] = deque()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one writer at a time: the thread or a flush()
        self._wake = threading.Event()
        self._stopped = False
        self._failing = False  # the last write failed: said once in the log, until it recovers
        self._thread_pid: int | None = None
        self.dropped = 0
        self._dropped_logged_at = float("-inf")

    def add(self, record: UsageRecord) -> None:
        with self._lock:
            self._pending.append(record)
            overflow = len(self._pending) - self.max_pending
            for _ in range(max(0, overflow)):
                self._pending.popleft()
                self.dropped += 1
        if overflow > 0 and time.monotonic() - self._dropped_logged_at > 10:
            self._dropped_logged_at = time.monotonic()
            logger.error(
                "usage records dropped (%s so far): %s are waiting for the database",
                self.dropped,
                self.max_pending,
            )
        if self._thread_pid != os.getpid():
            self._start()

    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Write everything pending now; the number of records written. Records the database
        refuses to take right now (it is down) stay pending."""
        written = 0
        with self._write_lock:
            while self._pending:
                with self._lock:
                    batch = [
                        self._pending.popleft() for _ in range(min(BATCH_SIZE, len(self._pending)))
                    ]
                try:
                    written += _write(batch)
                except DatabaseError as exc:
                    with self._lock:  # back to the front, in order, for the next attempt
                        self._pending.extendleft(reversed(batch))
                    if not self._failing:
                        self._failing = True
                        logger.warning(
                            "usage records wait in memory until the database answers: %s",
                            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc),
                        )
                    _forget_connection()
                    break
        if written and self._failing:
            self._failing = False
            logger.warning("usage records are written again (%s written)", written)
        return written

    def _start(self) -> None:
        with self._lock:
            if self._thread_pid == os.getpid():
                return
            self._thread_pid = os.getpid()  # also after a fork: the parent's thread is gone
        threading.Thread(target=self._write_forever, name="usage-writer", daemon=True).start()

    def stop(self) -> None:
        """Write what is pending and end the thread."""
        self._stopped = True
        self._wake.set()
        self.flush()

    def _write_forever(self) -> None:
        while not self._stopped:
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self._pending:
                continue
            try:
                close_old_connections()
                self.flush()
            except Exception:  # the thread must outlive any surprise
                logger.exception("usage writer")
        _forget_connection()


def _write(batch: list[UsageRecord]) -> int:
    """One INSERT for the batch. If the database refuses a row (its credential, key or
    workspace deleted since the call, a value it cannot take), row by row: unlinking what is
    gone, dropping what cannot be stored, so one bad record never blocks the others. A lost
    connection (OperationalError) propagates: the batch is retried later."""
    try:
        with transaction.atomic():
            UsageRecord.objects.bulk_create(batch)
        return len(batch)
    except (IntegrityError, DataError):
        pass
    written = 0
    for record in batch:
        if _insert(record):
            written += 1
            continue
        record.credential_id = record.api_key_id = record.user_id = None
        if _insert(record):
            written += 1
        else:
            logger.warning("usage record dropped: the database refuses it (%s)", record)
    return written


def _insert(record: UsageRecord) -> bool:
    record.pk = None
    try:
        with transaction.atomic():
            record.save(force_insert=True)
    except (IntegrityError, DataError):
        return False
    return True


def _forget_connection() -> None:
    with contextlib.suppress(DatabaseError):
        connection.close()


_writer: UsageWriter | None = None
_writer_lock = threading.Lock()


def writer() -> UsageWriter:
    global _writer
    if _writer is None:
        with _writer_lock:
            if _writer is None:
                _writer = UsageWriter(
                    interval=settings.USAGE_WRITE_INTERVAL,
                    max_pending=settings.USAGE_MAX_PENDING,
                )
                atexit.register(_flush_at_exit, _writer)
    return _writer


def _flush_at_exit(usage_writer: UsageWriter) -> None:
    try:
        usage_writer.flush()
    except Exception:
        logger.exception("usage records lost at exit")


def record_usage(record: UsageRecord) -> None:
    """Store one call's record: batched by the writer thread, or at once when
    `USAGE_WRITE_INTERVAL` is 0."""
    if settings.USAGE_WRITE_INTERVAL <= 0:
        record.save(force_insert=True)
    else:
        writer().add(record)
