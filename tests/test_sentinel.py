"""REDIS_URL may name a Redis Sentinel service: routing, health and Celery's broker find the
primary through real sentinels (a private redis-server and a redis-server in sentinel mode)."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis
from django.urls import reverse
from kombu import Connection

from balancing.routing import Router
from tests.fakes.private_redis import REDIS_SERVER, free_port
from workspaces.redis_urls import celery_broker, parse_sentinel, redis_client


@pytest.fixture
def sentinel_url(tmp_path, private_redis):
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor console 127.0.0.1 {private_redis.port} 1\n"
    )
    process = subprocess.Popen(
        [REDIS_SERVER, str(config), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 20
    while True:
        try:
            if client.sentinel_get_master_addr_by_name("console"):
                break
        except redis.RedisError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("redis sentinel did not start")
        time.sleep(0.05)
    try:
        yield f"sentinel://127.0.0.1:{port},127.0.0.1:{free_port()}/console/2"
    finally:
        process.kill()
        process.wait(timeout=5)


def test_the_url_forms():
    parsed = parse_sentinel("sentinel://:p%40ss@a:26379,b/console/3")
    assert (parsed.hosts, parsed.service, parsed.db, parsed.password) == (
        (("a", 26379), ("b", 26379)),
        "console",
        3,
        "p@ss",
    )
    assert parse_sentinel("redis://a:6379/0") is None
    with pytest.raises(ValueError):
        parse_sentinel("sentinel://a:26379/")
    assert celery_broker("sentinel://a:1,b:2/console/3") == (
        "sentinel://a:1/3;sentinel://b:2/3",
        {"master_name": "console"},
    )
    assert celery_broker("redis://a:6379/0") == ("redis://a:6379/0", {})


def test_routing_finds_the_primary_through_the_sentinels(sentinel_url, private_redis):
    router = Router.from_url(sentinel_url)
    picks = [router.pick("pool:sentinel", ["a", "b"]).entry_id for _ in range(4)]
    assert router.mode == "shared"
    assert sorted(picks) == ["a", "a", "b", "b"]
    direct = redis.Redis(port=private_redis.port, db=2)
    assert direct.keys("*")  # the routing state lives on the primary the sentinels named
    assert redis_client(sentinel_url).ping()


def test_health_and_the_broker_use_the_sentinel_url(client, db, settings, sentinel_url):
    settings.REDIS_URL = sentinel_url
    settings.EMBEDDED_MODE = False
    settings.HEALTH_WORKER_CACHE_SECONDS = 3600
    body = client.get(reverse("healthz")).json()
    assert (body["redis"], body["routing"]) == ("ok", "shared")
    broker, options = celery_broker(sentinel_url)
    with Connection(broker, transport_options=options) as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
        queue = connection.SimpleQueue("sentinel-check")
        queue.put({"hello": "sentinel"})
        assert queue.get(timeout=2).payload == {"hello": "sentinel"}
        queue.close()
