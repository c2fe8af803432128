"""This process's routing engine and stats recorder, built once from the settings.

With `REDIS_URL` set, routing state and stats are shared by every process through Redis (and
fall back to process-local state while Redis is down); without it (embedded mode) they are
process-local. Tests that change the settings get fresh instances (`reset()` runs on
`setting_changed`).
"""

from __future__ import annotations

import threading

from django.conf import settings

from workspaces.redis_urls import redis_client

from .routing import Router
from .stats import PoolStats, register_exit_flush

_lock = threading.Lock()
_router: Router | None = None
_stats: PoolStats | None = None

ROUTING_SETTINGS = frozenset(
    {
        "REDIS_URL",
        "LOAD_BALANCING_WAIT_SECONDS",
        "LOAD_BALANCING_COOLDOWN_CAP",
        "LOAD_BALANCING_BACKOFF_CAP",
    }
)


def get_router() -> Router:
    global _router
    if _router is None:
        with _lock:
            if _router is None:
                options = {
                    "wait_seconds": settings.LOAD_BALANCING_WAIT_SECONDS,
                    "cap_seconds": settings.LOAD_BALANCING_COOLDOWN_CAP,
                    "backoff_cap_seconds": settings.LOAD_BALANCING_BACKOFF_CAP,
                }
                if settings.REDIS_URL:
                    _router = Router.from_url(settings.REDIS_URL, **options)
                else:
                    _router = Router.local(**options)
    return _router


def get_stats() -> PoolStats:
    global _stats
    if _stats is None:
        with _lock:
            if _stats is None:
                client = None
                if settings.REDIS_URL:
                    client = redis_client(
                        settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5
                    )
                _stats = PoolStats(client)
                register_exit_flush(_stats)
    return _stats


def routing_mode() -> str:
    """ "shared" when routing state lives in Redis, "local" in embedded mode or while Redis is
    down (the router notices on its next call and says so once in the log)."""
    return get_router().mode


def reset() -> None:
    """Forget this process's router and stats (tests, after changing the settings)."""
    global _router, _stats
    with _lock:
        if _stats is not None:
            _stats.flush()
        _router = _stats = None
