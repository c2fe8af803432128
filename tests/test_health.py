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
    }


def test_healthz_with_the_real_redis(client, db, settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.EMBEDDED_MODE = False
    assert client.get(reverse("healthz")).json()["redis"] == "ok"


def test_healthz_with_redis_down_stays_up_and_says_so(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.EMBEDDED_MODE = False
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["redis"] == "unreachable"
