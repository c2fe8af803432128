"""`GET /healthz`: whether the database and Redis answer, and which mode the app runs in."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from workspaces.access import public_view

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
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
        return "ok"
    except redis.RedisError:
        return "unreachable"


def _routing_mode() -> str:
    """Load balancing state: "shared" (Redis) or "local" (embedded, or Redis is down)."""
    from balancing.runtime import get_router

    router = get_router()
    if router.shared is not None:
        router.pick("healthz", ["probe"])  # notices an outage (or a recovery) now
    return router.mode


@require_GET
@public_view
def healthz(request: HttpRequest) -> JsonResponse:
    database_ok = _database_ok()
    body = {
        "status": "ok" if database_ok else "degraded",
        "database": "ok" if database_ok else "unreachable",
        "redis": _redis_state(),
        "mode": "embedded" if settings.EMBEDDED_MODE else "redis",
        "routing": _routing_mode(),
    }
    return JsonResponse(body, status=200 if database_ok else 503)
