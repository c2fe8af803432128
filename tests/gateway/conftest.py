"""These tests call /v1/ the way production serves it: through the gateway's lean handler, or
(`server`, for the official SDK's tests) the production server process itself."""

import os

import pytest
import redis

from tests.conftest import require_service
from tests.gateway_client import client  # noqa: F401 - the fixture, for this folder
from tests.production_server import run_production_server


@pytest.fixture(scope="module")
def server(django_db_setup, fake_provider_server, slow_upstream, tmp_path_factory):
    """The production server for every test here, reaching the fake providers and the slow
    upstream, with the test Redis (the `redis_url` fixture flushes it before each test), as
    production runs with one."""
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
    ) as server:
        yield server
