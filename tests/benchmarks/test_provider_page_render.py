"""Benchmark: a provider page with 100 custom models and 300 credentials, rendered through the
full Django stack (middleware, session, templates). Prints figures; asserts only correctness.

Run: make bench (or .venv/bin/python -m pytest -m benchmark -s tests/benchmarks)
"""

from __future__ import annotations

import statistics
import time

import pytest
from django.urls import reverse

from credentials.models import Credential, CustomModel
from tests.factories import CredentialFactory, CustomModelFactory

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db]
RUNS = 60


def test_provider_page_render_time_with_100_models_and_300_credentials(workspace, client_for):
    CustomModel.objects.bulk_create(
        CustomModelFactory.build(workspace=workspace, name=f"ft-{i}") for i in range(100)
    )
    Credential.objects.bulk_create(
        CredentialFactory.build(
            workspace=workspace, model_name=f"ft-{i // 3}", model_type="llm", is_default=i % 3 == 0
        )
        for i in range(300)
    )
    client = client_for("admin")
    url = reverse("provider-detail", args=["openai"])
    for _ in range(5):  # warm the template cache and the session
        assert client.get(url).status_code == 200
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    timings.sort()
    print(
        f"\n[benchmark] provider page, 100 custom models + 300 credentials, {RUNS} renders: "
        f"p50 {statistics.median(timings) * 1000:.1f} ms, "
        f"p90 {timings[int(RUNS * 0.9) - 1] * 1000:.1f} ms, max {timings[-1] * 1000:.1f} ms"
    )
