"""A canary secret goes through every credential path; then every page, fragment, admin page,
log record, Celery message, audit entry and plain database column is searched for it."""

from __future__ import annotations

import json
import logging

import pytest
from celery.signals import before_task_publish
from django.db import connection
from django.test import Client
from django.urls import reverse

from credentials.models import Credential, PendingValidation
from tests.factories import UserFactory
from workspaces.models import AuditEntry

CANARY = "sk-test-valid-CANARY4242deadbeef"
CANARY_BAD = "sk-test-invalid-CANARY4242badbad"
CANARY_FRAGMENTS = ["CANARY4242", "deadbeef", "badbad"]
HX = {"HX-Request": "true"}


def leaked(text: str) -> list[str]:
    return [fragment for fragment in CANARY_FRAGMENTS if fragment in text]


@pytest.fixture
def published_messages():
    """Every Celery message published during the test (args, kwargs, headers)."""
    messages = []

    def record(body=None, headers=None, **kwargs):
        messages.append(json.dumps({"body": body, "headers": headers}, default=str))

    before_task_publish.connect(record, weak=False)
    yield messages
    before_task_publish.disconnect(record)


@pytest.fixture
def everything_done(client_for, workspace, fake_providers, caplog, queued_only, published_messages):
    """Create, fail, edit, check and poll with canary secrets; returns the ids involved."""
    from credentials import services

    caplog.set_level(logging.DEBUG)
    admin = client_for("admin")
    base_url = fake_providers.base_url("openai")
    url = reverse("credential-create", args=["openai"])
    # Published to a queue; then run the way a worker runs it (task body with the id).
    admin.post(url, {"name": "Canary", "api_key": CANARY, "base_url": base_url}, headers=HX)
    admin.post(url, {"name": "Bad", "api_key": CANARY_BAD, "base_url": base_url}, headers=HX)
    for pending in PendingValidation.objects.all():
        services.pending_validation_run(pending_id=str(pending.pk))
        admin.get(reverse("validation-detail", args=[pending.pk]), headers=HX)
    credential = Credential.objects.get(name="Canary")
    admin.post(reverse("credential-check", args=["openai", credential.pk]), headers=HX)
    admin.post(
        reverse("credential-update", args=["openai", credential.pk]),
        {"name": "Canary", "api_key": "", "base_url": base_url},
        headers=HX,
    )
    for pending in PendingValidation.objects.filter(status="queued"):
        services.pending_validation_run(pending_id=str(pending.pk))
    credential.refresh_from_db()
    assert credential.secrets == {"api_key": CANARY}  # the flow really stored the canary
    return {"credential": credential, "pendings": list(PendingValidation.objects.all())}


def test_no_page_or_fragment_shows_the_secret(everything_done, client_for, members):
    credential = everything_done["credential"]
    pages = [
        reverse("provider-list"),
        reverse("provider-detail", args=["openai"]),
        reverse("credential-list", args=["openai"]),
        reverse("credential-create", args=["openai"]),
        reverse("credential-update", args=["openai", credential.pk]),
        reverse("credential-delete", args=["openai", credential.pk]),
        reverse("audit-log"),
        *[reverse("validation-detail", args=[p.pk]) for p in everything_done["pendings"]],
    ]
    for role in ("owner", "admin", "member"):
        client = client_for(role)
        for page in pages:
            for headers in ({}, HX, {**HX, "HX-Target": "credential-list"}):
                response = client.get(page, headers=headers)
                assert not leaked(response.content.decode()), (role, page)
                assert not leaked(json.dumps(dict(response.headers))), (role, page)


def test_no_admin_page_shows_the_secret(everything_done, workspace):
    operator = Client()
    operator.force_login(UserFactory(is_staff=True, is_superuser=True))
    credential = everything_done["credential"]
    pages = [
        reverse("admin:credentials_credential_changelist"),
        reverse("admin:credentials_credential_change", args=[credential.pk]),
        reverse("admin:credentials_pendingvalidation_changelist"),
        reverse("admin:workspaces_auditentry_changelist"),
        *[
            reverse("admin:credentials_pendingvalidation_change", args=[p.pk])
            for p in everything_done["pendings"]
        ],
        *[
            reverse("admin:workspaces_auditentry_change", args=[e.pk])
            for e in AuditEntry.objects.all()
        ],
    ]
    for page in pages:
        response = operator.get(page)
        assert response.status_code == 200, page
        assert not leaked(response.content.decode()), page


def test_no_log_record_carries_the_secret(everything_done, caplog):
    records = caplog.get_records("setup") + caplog.records  # the flow ran in the fixture
    assert records, "the flow should have logged something (tasks, requests)"
    for record in records:
        assert not leaked(record.getMessage()), record.getMessage()
        assert not leaked(str(record.args)), record.args


def test_celery_messages_carry_ids_not_secrets(everything_done, published_messages):
    assert len(published_messages) >= 4
    for message in published_messages:
        assert not leaked(message)


def test_audit_entries_and_errors_hold_no_secret(everything_done):
    entries = list(AuditEntry.objects.values_list("object_repr", "details"))
    assert entries
    assert not leaked(json.dumps(entries, default=str))
    for pending in PendingValidation.objects.all():
        assert not leaked(pending.error_message + pending.error_hint + json.dumps(pending.config))


def test_no_plain_database_column_holds_the_secret(everything_done):
    with connection.cursor() as cursor:
        for table in (
            "credentials_credential",
            "credentials_pendingvalidation",
            "workspaces_auditentry",
        ):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            assert not leaked(json.dumps(cursor.fetchall(), default=str)), table
