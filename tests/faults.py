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
    """PostgreSQL refuses new connections to the test database until the block ends; open
    ones (the test's own) keep working, like a server at its connection limit or restarting."""
    db = connection.settings_dict
    admin = psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres"
    )
    admin.autocommit = True
    try:
        admin.execute(f'ALTER DATABASE "{db["NAME"]}" WITH ALLOW_CONNECTIONS false')
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
