"""A Redis client of the app keeps at most REDIS_MAX_CONNECTIONS connections: callers beyond
them wait for one instead of opening more (workspaces/redis_urls.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from workspaces.redis_urls import redis_client


def test_a_burst_of_callers_shares_at_most_redis_max_connections(settings, redis_url):
    settings.REDIS_MAX_CONNECTIONS = 2
    client = redis_client(redis_url, socket_timeout=2)
    with ThreadPoolExecutor(8) as callers:  # 8 at once, each holding a connection for 0.1 s
        answers = list(callers.map(lambda _: client.blpop(["nothing"], timeout=0.1), range(8)))
    assert answers == [None] * 8  # every caller was served, in turn
    assert len(client.connection_pool._connections) == 2
    client.close()


def test_a_caller_waits_no_longer_than_its_socket_timeout_for_a_connection(settings, redis_url):
    settings.REDIS_MAX_CONNECTIONS = 1
    client = redis_client(redis_url, socket_timeout=0.2)
    busy = client.connection_pool.get_connection()
    try:
        with pytest.raises(redis.ConnectionError):  # as if Redis were down: callers fall back
            client.ping()
    finally:
        client.connection_pool.release(busy)
    assert client.ping()
    client.close()
