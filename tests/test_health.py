"""`GET /healthz` reports the database, Redis, the broker, the workers seen and the mode the
app runs in: 200 while it can serve, 503 when the database is down."""

from __future__ import annotations

import os

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from tests.conftest import celery_configured
from tests.faults import database_refusing_connections, in_thread


def test_healthz_in_embedded_mode(client, db):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "redis": "not configured",
        "broker": "in-process",
        "workers": "in-process",
        "mode": "embedded",
        "routing": "local",
        "config_cache": "ttl",
        "streams": {"pid": os.getpid(), "open": 0, "max": django_settings.GATEWAY_MAX_STREAMS},
    }


def test_healthz_counts_live_greenlets_only_when_asked(client, db, settings):
    import gevent

    assert "greenlets" not in client.get(reverse("healthz")).json()["streams"]
    settings.HEALTHZ_COUNT_TASKS = True
    gevent.sleep(0)  # the hub exists, as in a gevent worker
    before = client.get(reverse("healthz")).json()["streams"]["greenlets"]
    waiting = [gevent.spawn(gevent.sleep, 60) for _ in range(3)]
    try:
        assert client.get(reverse("healthz")).json()["streams"]["greenlets"] == before + 3
    finally:
        gevent.killall(waiting)
    assert client.get(reverse("healthz")).json()["streams"]["greenlets"] == before


def test_healthz_with_the_real_redis(client, db, settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.EMBEDDED_MODE = False
    with celery_configured(broker_url=redis_url, task_always_eager=False):
        body = client.get(reverse("healthz")).json()
    assert body["redis"] == "ok"
    assert body["routing"] == "shared"


def test_healthz_with_redis_down_stays_up_and_says_so(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.EMBEDDED_MODE = False
    with celery_configured(broker_url=settings.REDIS_URL, task_always_eager=False):
        response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["redis"] == "unreachable"
    assert response.json()["routing"] == "local"  # load balancing carries on, process-local


def test_healthz_shows_routing_go_local_and_come_back_with_redis(
    client, db, settings, private_redis
):
    """Routing notices a Redis outage and its end; health shows both, and stays 200."""
    from balancing.runtime import get_router

    settings.REDIS_URL = private_redis.url
    settings.EMBEDDED_MODE = False
    settings.HEALTH_WORKER_CACHE_SECONDS = 3600  # this test is about routing, not workers
    get_router().retry_seconds = 0
    assert client.get(reverse("healthz")).json()["routing"] == "shared"
    private_redis.kill()
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["routing"] == "local"
    private_redis.start()
    assert client.get(reverse("healthz")).json()["routing"] == "shared"


@pytest.mark.django_db(transaction=True)
def test_healthz_counts_the_workers_that_answer(client, settings, celery_worker):
    settings.REDIS_URL = celery_worker.conf.broker_url
    settings.EMBEDDED_MODE = False
    settings.HEALTH_WORKER_CACHE_SECONDS = 0
    for _ in range(5):  # a ping's reply can miss its 1 s window on a busy machine
        body = client.get(reverse("healthz")).json()
        if body["workers"]:
            break
    assert (body["broker"], body["workers"]) == ("ok", 1)


def test_healthz_with_no_worker_running_says_none(client, db, settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.EMBEDDED_MODE = False
    settings.HEALTH_WORKER_CACHE_SECONDS = 0
    with celery_configured(broker_url=redis_url, task_always_eager=False):
        response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert (response.json()["broker"], response.json()["workers"]) == ("ok", 0)


def test_healthz_with_the_broker_down(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.EMBEDDED_MODE = False
    with celery_configured(broker_url="redis://127.0.0.1:1/0", task_always_eager=False):
        response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert (response.json()["broker"], response.json()["workers"]) == ("unreachable", 0)


def test_healthz_is_503_when_the_database_is_down(client, postgres):
    with database_refusing_connections():
        response = in_thread(lambda: client.get(reverse("healthz")))
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert response.json()["status"] == "degraded"
