"""The PostgreSQL connection pool's check (config/settings.py turns the pool on).

Before the pool hands out a connection it checks it, as Django's CONN_HEALTH_CHECKS asks. When
an idle connection turns out dead, the server has most likely restarted and every idle
connection is dead too; psycopg_pool would try them one at a time with a growing pause between
(1 s, 2 s, 4 s), so a request (or a Celery task) after a restart gives up after about three
dead connections, and the next one too, until all are found. This check tests all idle
connections at once instead (`ConnectionPool.check()`, which replaces the dead ones in the
background), so the request takes the next good one.

Django builds the pool itself and always passes its own check, so the pool's check is replaced
when the pool hands out its first connection (`connection_created`).
"""

from __future__ import annotations

from django.db.backends.signals import connection_created


def check_pooled_connection(conn) -> None:
    from psycopg_pool import ConnectionPool

    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        pool = getattr(conn, "_pool", None)
        if pool is not None:
            pool.check()
        raise


def _use_our_check(sender, connection, **kwargs) -> None:
    pool = getattr(connection, "pool", None)
    if pool is not None and getattr(pool, "_check", None) not in (None, check_pooled_connection):
        pool._check = check_pooled_connection  # psycopg_pool has no public setter


def install() -> None:
    connection_created.connect(_use_our_check, dispatch_uid="workspaces.db_pool")
