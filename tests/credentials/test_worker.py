"""Test and save through a real Celery worker on real Redis, as in production."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from credentials.models import Credential

HX = {"HX-Request": "true"}
pytestmark = pytest.mark.django_db(transaction=True)


def poll(client, html: str, timeout: float = 30.0):
    """Follow the page's polling until the outcome arrives (HTTP 286, htmx's stop signal)."""
    import re

    url = re.search(r'hx-get="(/settings/validations/[^"]+)"', html).group(1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(url, headers=HX)
        if response.status_code == 286:
            return response
        assert response.status_code == 204
        time.sleep(0.05)
    pytest.fail("no validation result within the timeout")


def test_a_real_worker_validates_and_saves(celery_worker, fake_providers, client_for, workspace):
    client = client_for("admin")
    response = client.post(
        reverse("credential-create", args=["openai"]),
        {
            "name": "Via worker",
            "api_key": "sk-test-valid-worker-000000",
            "base_url": fake_providers.base_url("openai"),
        },
        headers=HX,
    )
    html = response.content.decode()
    assert "Checking the credential with OpenAI" in html  # progress first, then the poll
    assert not Credential.objects.exists()
    outcome = poll(client, html)
    assert "credentialsChanged" in outcome["HX-Trigger"]
    credential = Credential.objects.get()
    assert (credential.name, credential.is_default) == ("Via worker", True)
    assert any(
        r.headers.get("authorization") == "Bearer sk-test-valid-worker-000000"
        for r in fake_providers.requests
    )


def test_a_real_worker_reports_a_wrong_key(celery_worker, fake_providers, client_for, workspace):
    client = client_for("admin")
    response = client.post(
        reverse("credential-create", args=["anthropic"]),
        {"api_key": "sk-ant-invalid-000000", "base_url": fake_providers.base_url("anthropic")},
        headers=HX,
    )
    outcome = poll(client, response.content.decode())
    assert "Authentication failed" in outcome.content.decode()
    assert not Credential.objects.exists()
