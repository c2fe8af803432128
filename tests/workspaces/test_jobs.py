"""The background-job base (workspaces/jobs.py) through the three kinds of job that use it:
credential validation, "Refresh models" and scheduled re-validation.

A job runs once: Celery delivers a task again (acks late) when a worker dies or a visibility
timeout passes, with the same task id; the second delivery must not ask the provider again.
A job that outlives its deadline ends as timed out, and a late answer does not change that.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from credentials.models import Credential, PendingValidation
from providers.models import ModelRefresh
from tests.conftest import celery_configured
from tests.factories import CredentialFactory
from workspaces.models import AuditEntry

HX = {"HX-Request": "true"}


def credential(workspace, fake_providers, key: str, **extra) -> Credential:
    return CredentialFactory(
        workspace=workspace,
        secret_data=json.dumps({"api_key": key}),
        config={"base_url": fake_providers.base_url("openai")},
        **extra,
    )


def calls_with(fake_providers, key: str) -> int:
    return sum(r.headers.get("authorization") == f"Bearer {key}" for r in fake_providers.requests)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


# --- a second delivery -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_revalidation_delivered_twice_by_the_broker_asks_the_provider_once(
    celery_worker, fake_providers, workspace
):
    refused = credential(workspace, fake_providers, "sk-test-invalid-twice-0001", name="Refused")
    marker = credential(workspace, fake_providers, "sk-test-valid-marker-0001", name="Marker")
    task_id = str(uuid.uuid4())
    for _ in range(2):  # what a redelivery looks like: the same message, the same task id
        celery_worker.send_task(
            "credentials.revalidate_credential", args=[refused.pk], task_id=task_id
        )
    # The solo worker takes tasks in order: once the marker's check has run, so have both.
    celery_worker.send_task("credentials.revalidate_credential", args=[marker.pk])
    wait_for(
        lambda: Credential.objects.filter(pk=marker.pk, last_checked_at__isnull=False).exists(),
        30,
        "the worker to check the marker credential",
    )
    assert calls_with(fake_providers, "sk-test-invalid-twice-0001") == 1
    refusals = AuditEntry.objects.filter(
        action="credential.revalidate", object_id=str(refused.pk), outcome="failure"
    )
    assert refusals.count() == 1


@pytest.fixture
def eager():
    with celery_configured(task_always_eager=True):
        yield


def test_a_scheduled_check_delivered_twice_runs_once(workspace, fake_providers, eager):
    from system.tasks import revalidate_credential

    refused = credential(workspace, fake_providers, "sk-test-invalid-again-0002")
    task_id = str(uuid.uuid4())
    revalidate_credential.apply(args=[refused.pk], task_id=task_id)
    revalidate_credential.apply(args=[refused.pk], task_id=task_id)
    assert calls_with(fake_providers, "sk-test-invalid-again-0002") == 1
    assert AuditEntry.objects.filter(action="credential.revalidate").count() == 1


def test_a_validation_delivered_twice_runs_once(members, workspace, fake_providers, queued_only):
    from credentials.services import validation_request_create
    from credentials.tasks import validate_credential

    pending = validation_request_create(
        workspace=workspace,
        provider_key="openai",
        acting_user=members["admin"].user,
        values={
            "api_key": "sk-test-valid-twice-0003",
            "base_url": fake_providers.base_url("openai"),
        },
    )
    task_id = str(uuid.uuid4())
    validate_credential.apply(args=[str(pending.pk)], task_id=task_id)
    validate_credential.apply(args=[str(pending.pk)], task_id=task_id)
    assert calls_with(fake_providers, "sk-test-valid-twice-0003") == 1
    assert Credential.objects.count() == 1


def test_a_refresh_delivered_twice_runs_once(client_for, workspace, fake_providers, queued_only):
    from providers.tasks import refresh_models

    key = "sk-test-valid-twice-0004"
    source = credential(workspace, fake_providers, key)
    client_for("admin").post(
        reverse("model-refresh", args=["openai"]), {"credential": source.pk}, headers=HX
    )
    refresh = ModelRefresh.objects.get()
    task_id = str(uuid.uuid4())
    refresh_models.apply(args=[str(refresh.pk)], task_id=task_id)
    refresh_models.apply(args=[str(refresh.pk)], task_id=task_id)
    assert calls_with(fake_providers, key) == 1


# --- expiry ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_refresh_that_timed_out_stays_timed_out_when_the_provider_answers_late(
    client_for, workspace, fake_providers, queued_only
):
    from providers.tasks import refresh_models

    fake_providers.hang_seconds = 2  # the provider answers after the page has given up
    admin = client_for("admin")
    source = credential(workspace, fake_providers, "hang")
    admin.post(reverse("model-refresh", args=["openai"]), {"credential": source.pk}, headers=HX)
    refresh = ModelRefresh.objects.get()
    worker = threading.Thread(target=refresh_models.apply, args=([str(refresh.pk)],))
    worker.start()  # what a worker does with the id, in another thread and connection
    try:
        wait_for(
            lambda: ModelRefresh.objects.filter(pk=refresh.pk, status="running").exists(),
            10,
            "the refresh to start",
        )
        ModelRefresh.objects.filter(pk=refresh.pk).update(
            created_at=timezone.now() - timedelta(minutes=5)
        )
        poll = reverse("model-refresh-detail", args=["openai", refresh.pk])
        page = admin.get(poll, headers=HX)
        assert page.status_code == 286
        assert "timed out" in page.content.decode()
    finally:
        worker.join(timeout=20)
    assert calls_with(fake_providers, "hang") == 1  # the provider did answer, late
    page = admin.get(poll, headers=HX).content.decode()
    assert "timed out" in page
    assert "the model list" in page  # says what it was doing, not "validation result"
    assert "Predefined models" not in page


def test_an_expired_validation_says_timed_out_and_its_typed_key_is_gone(
    members, workspace, fake_providers, client_for, queued_only
):
    from credentials.services import validation_request_create

    pending = validation_request_create(
        workspace=workspace,
        provider_key="openai",
        acting_user=members["admin"].user,
        values={
            "api_key": "sk-test-valid-late-0005",
            "base_url": fake_providers.base_url("openai"),
        },
    )
    assert pending.secret_payload
    PendingValidation.objects.filter(pk=pending.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    page = client_for("admin").get(reverse("validation-detail", args=[pending.pk]), headers=HX)
    assert page.status_code == 286 and "Validation timed out" in page.content.decode()
    assert "sk-test-valid-late-0005" not in page.content.decode()
    pending.refresh_from_db()
    assert pending.secret_payload is None
    from credentials.tasks import validate_credential

    validate_credential.apply(args=[str(pending.pk)])  # the worker comes after all
    assert calls_with(fake_providers, "sk-test-valid-late-0005") == 0
    assert not Credential.objects.exists()
