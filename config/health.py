"""`GET /healthz`: whether the database, Redis and the Celery broker answer, how many workers
answered a ping, which mode the app runs in, and how configuration changes reach this process
("config_cache": "shared" through Redis, "ttl" when only cache lifetimes bound them), and the
streams the answering web process holds open ("streams": its process id, the open count and
the cap, GATEWAY_MAX_STREAMS: each process counts its own; with HEALTHZ_COUNT_TASKS also its
live greenlets). 200 while the app can serve (the database answers), 503 when it cannot; Redis,
broker or worker faults degrade it without taking it down."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time

import greenlet
import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from balancing.runtime import get_router
from invocation.capacity import open_streams
from workspaces.access import public_view
from workspaces.config_cache import config_cache_mode
from workspaces.redis_urls import redis_client

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any database fault means "down" here, whatever the driver raised
        logger.warning("healthz: database check failed", exc_info=True)
        return False


def _redis_state() -> str:
    if settings.EMBEDDED_MODE:
        return "not configured"
    try:
        redis_client(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
        return "ok"
    except redis.RedisError:
        return "unreachable"


def _broker_state() -> str:
    if settings.EMBEDDED_MODE:
        return "in-process"
    from config.celery import app

    try:
        with app.connection_for_write() as connection_:
            connection_.ensure_connection(max_retries=1, interval_start=0, timeout=1)
        return "ok"
    except Exception:  # kombu raises a different class per transport
        return "unreachable"


_workers_seen: tuple[float, list[str]] | None = None
_workers_lock = threading.Lock()


def _workers(broker: str) -> int | str:
    """How many Celery workers answered a ping (cached for HEALTH_WORKER_CACHE_SECONDS, so
    frequent probes do not each wait for the ping's timeout)."""
    global _workers_seen
    if settings.EMBEDDED_MODE:
        return "in-process"
    if broker != "ok":
        return 0
    ttl = settings.HEALTH_WORKER_CACHE_SECONDS
    now = time.monotonic()
    cached = _workers_seen
    if cached is not None and ttl > 0 and now - cached[0] < ttl:
        return len(cached[1])
    from config.celery import app

    try:
        replies = app.control.ping(timeout=1.0) or []
    except Exception:
        logger.warning("healthz: worker ping failed", exc_info=True)
        replies = []
    names = sorted(name for reply in replies for name in reply)
    with _workers_lock:
        _workers_seen = (now, names)
    return len(names)


def _routing_mode() -> str:
    """Load balancing state: "shared" (Redis) or "local" (embedded, or Redis is down)."""
    router = get_router()
    if router.shared is not None:
        router.pick("healthz", ["probe"])  # notices an outage (or a recovery) now
    return router.mode


def _live_greenlets() -> int:
    """Greenlets of this process not yet finished: the requests it serves (one per connection
    under the gevent worker), its background loops (the usage writer, the database pool's
    workers) and the hub. greenlet keeps no registry of them, so this walks the objects the
    garbage collector tracks (greenlets are among them): costly, hence HEALTHZ_COUNT_TASKS."""
    # type(), not isinstance(): isinstance() asks a lazy object for its __class__, which
    # evaluates it (a request's CSP nonce would raise, a lazy user would query).
    return sum(
        1
        for item in gc.get_objects()
        if issubclass(type(item), greenlet.greenlet) and not item.dead
    )


@require_GET
@public_view
def healthz(request: HttpRequest) -> JsonResponse:
    database_ok = _database_ok()
    broker = _broker_state()
    streams = {"pid": os.getpid(), "open": open_streams(), "max": settings.GATEWAY_MAX_STREAMS}
    if settings.HEALTHZ_COUNT_TASKS:
        streams["greenlets"] = _live_greenlets()
    body = {
        "status": "ok" if database_ok else "degraded",
        "database": "ok" if database_ok else "unreachable",
        "redis": _redis_state(),
        "broker": broker,
        "workers": _workers(broker),
        "mode": "embedded" if settings.EMBEDDED_MODE else "redis",
        "routing": _routing_mode(),
        "config_cache": config_cache_mode(probe=True),
        "streams": streams,
    }
    return JsonResponse(body, status=200 if database_ok else 503)
