"""These tests call /v1/ the way production serves it: through the gateway's lean handler, or
(`server`, for the official SDK's tests) the production server process itself."""

import os

import pytest
import redis

from tests.conftest import require_service
from tests.gateway_client import client  # noqa: F401 - the fixture, for this folder
from tests.production_server import quiet, run_production_server

USAGE_WRITE_INTERVAL = 0.05  # the server's usage records come soon, so `quiet` waits little


@pytest.fixture(scope="module")
def production(django_db_setup, fake_provider_server, slow_upstream, tmp_path_factory):
    """The production server for every test of a module, reaching the fake providers and the
    slow upstream, with the test Redis (the `redis_url` fixture flushes it before each test), as
    production runs with one. Tests take it through `server`."""
    url = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        require_service(f"Redis is not reachable at {url}")
    with run_production_server(
        log_dir=tmp_path_factory.mktemp("sdk"),
        allow=[f"127.0.0.1:{fake_provider_server.port}", f"127.0.0.1:{slow_upstream}"],
        REDIS_URL=url,
        HEALTH_WORKER_CACHE_SECONDS="3600",  # no Celery worker to ping here
        USAGE_WRITE_INTERVAL=str(USAGE_WRITE_INTERVAL),
    ) as server:
        yield server


@pytest.fixture
def server(production, transactional_db):
    """The module's production server for one test. After the test, the server is left to
    finish what it does off the request path (streams ending, usage records written) before
    the test database is emptied: its writes would otherwise race the flush (a deadlock
    between the usage writer's insert and the flush's TRUNCATE)."""
    yield production
    quiet(production, interval=USAGE_WRITE_INTERVAL)
