"""Real faults for tests: a database that refuses new connections, and running code in a
thread of its own (so it needs a connection of its own)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
from django.db import connection

T = TypeVar("T")


@contextmanager
def database_refusing_connections() -> Iterator[None]:
    """PostgreSQL is down for the app until the block ends, as while it restarts: new
    connections to the test database are refused and every open one but the test's own (which
    keeps working, inside the test's transaction) is cut, so the connections a pool keeps
    (config/settings.py) fail as well."""
    db = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (own,) = cursor.fetchone()
    admin = psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres"
    )
    admin.autocommit = True
    try:
        admin.execute(f'ALTER DATABASE "{db["NAME"]}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> %s",
            (db["NAME"], own),
        )
        yield
    finally:
        admin.execute(f'ALTER DATABASE "{db["NAME"]}" WITH ALLOW_CONNECTIONS true')
        admin.close()


def in_thread(function: Callable[[], T]) -> T | None:
    """`function()` run in a new thread (with its own database connection, closed after)."""
    result: list[T] = []

    def run() -> None:
        try:
            result.append(function())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return result[0] if result else None
