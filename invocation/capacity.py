"""How many streamed answers this process has open, and the cap on them.

A web process serves each connection in a greenlet (config/gunicorn.py), so an open stream
costs memory, two sockets and a share of the CPU, not a thread. `GATEWAY_MAX_STREAMS` bounds
them per process: `stream_slot()` takes one before the provider is called, and past the cap
raises `TooManyStreams` at once (503 with Retry-After in OpenAI's error shape, through
`workspaces.exceptions.error_answer`), so a client is told to come back rather than left
waiting. The slot is given back however the stream ends: read to its end, failed, or closed
because the client went away (`invocation.api.StreamedChat`); a stream that is dropped without
being closed gives it back when it is garbage-collected. `/healthz` shows the count.
"""

from __future__ import annotations

import threading

from django.conf import settings

from workspaces.exceptions import ApplicationError

RETRY_AFTER_SECONDS = 1


class TooManyStreams(ApplicationError):
    """This process already holds `GATEWAY_MAX_STREAMS` streams open."""

    http_status = 503
    error_type = "api_error"
    error_code = "too_many_streams"
    retry_after = RETRY_AFTER_SECONDS


class StreamSlots:
    """A counter of open streams under a lock (a greenlet lock under gevent)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open = 0

    @property
    def open(self) -> int:
        return self._open

    def acquire(self) -> StreamSlot:
        cap = settings.GATEWAY_MAX_STREAMS
        with self._lock:
            if self._open >= cap:
                raise TooManyStreams(
                    f"This server has {cap} streams open, its limit. Retry in a moment."
                )
            self._open += 1
        return StreamSlot(self)

    def _release(self) -> None:
        with self._lock:
            self._open -= 1


class StreamSlot:
    """One open stream's place; `release()` gives it back (once, whoever calls it)."""

    __slots__ = ("_slots", "__weakref__")

    def __init__(self, slots: StreamSlots):
        self._slots: StreamSlots | None = slots

    def release(self) -> None:
        slots, self._slots = self._slots, None
        if slots is not None:
            slots._release()


_slots = StreamSlots()


def stream_slot() -> StreamSlot:
    """A place for one more stream in this process, or TooManyStreams."""
    return _slots.acquire()


def open_streams() -> int:
    """Streams this process has open now."""
    return _slots.open
