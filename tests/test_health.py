"""`GET /healthz` reports the database, Redis and the mode the app runs in."""

from __future__ import annotations

from django.urls import reverse


def test_healthz_in_embedded_mode(client, db):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "redis": "not configured",
        "mode": "embedded",
        "routing": "local",
    }


def test_healthz_with_the_real_redis(client, db, settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.EMBEDDED_MODE = False
    body = client.get(reverse("healthz")).json()
    assert body["redis"] == "ok"
    assert body["routing"] == "shared"


def test_healthz_with_redis_down_stays_up_and_says_so(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.EMBEDDED_MODE = False
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
    get_router().retry_seconds = 0
    assert client.get(reverse("healthz")).json()["routing"] == "shared"
    private_redis.kill()
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["routing"] == "local"
    private_redis.start()
    assert client.get(reverse("healthz")).json()["routing"] == "shared"
