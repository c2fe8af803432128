"""Benchmark: time from "Test and save" to the result being visible, with a real Celery worker
on real Redis and the fake provider on loopback. Prints figures; asserts only correctness.

Run: make bench (or .venv/bin/python -m pytest -m benchmark -s tests/benchmarks)
"""

from __future__ import annotations

import re
import statistics
import time

import pytest
from django.urls import reverse

from credentials.models import Credential, PendingValidation

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db(transaction=True)]
HX = {"HX-Request": "true"}
RUNS = 30


def poll_interval_ms(html: str) -> tuple[float, float]:
    """The first delay and the interval the page's progress fragment polls with."""
    trigger = re.search(r'hx-trigger="([^"]+)"', html).group(1)
    first = re.search(r"load delay:(\d+)ms", trigger)
    every = re.search(r"every (\d+)ms", trigger)
    return (int(first.group(1)) if first else int(every.group(1))), int(every.group(1))


def test_time_from_test_and_save_to_visible_result(
    celery_worker, fake_providers, client_for, workspace
):
    client = client_for("admin")
    url = reverse("credential-create", args=["openai"])
    visible = []
    for run in range(RUNS):
        started = time.perf_counter()
        response = client.post(
            url,
            {
                "name": f"bench {run}",
                "api_key": f"sk-test-valid-{run:06}",
                "base_url": fake_providers.base_url("openai"),
            },
            headers=HX,
        )
        html = response.content.decode()
        poll_url = re.search(r'hx-get="(/settings/validations/[^"]+)"', html).group(1)
        first, every = poll_interval_ms(html)
        # Poll exactly as the browser does: after `first` ms, then every `every` ms.
        next_poll = started + first / 1000
        while True:
            time.sleep(max(0.0, next_poll - time.perf_counter()))
            outcome = client.get(poll_url, headers=HX)
            if outcome.status_code == 286:
                break
            next_poll += every / 1000
        visible.append(time.perf_counter() - started)
    assert Credential.objects.count() == RUNS
    completed = [
        (p.finished_at - p.created_at).total_seconds()
        for p in PendingValidation.objects.filter(status="succeeded")
    ]

    def describe(values):
        ordered = sorted(values)
        return (
            f"p50 {statistics.median(ordered) * 1000:.0f} ms, "
            f"p90 {ordered[int(len(ordered) * 0.9) - 1] * 1000:.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms"
        )

    print(
        f"\n[benchmark] test and save → result visible (browser polling {first}/{every} ms),"
        f" {RUNS} runs, real worker + fake provider: {describe(visible)}"
    )
    print(f"[benchmark] validation queued → saved by the worker: {describe(completed)}")
