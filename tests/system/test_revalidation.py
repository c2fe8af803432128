"""Scheduled re-validation: every stored credential is checked against the provider (the
loopback fake) at a bounded rate per workspace; refusals mark it failing and are audited."""

from __future__ import annotations

import json
import logging
from itertools import pairwise

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings

from credentials.models import Credential
from system import tasks
from system.revalidation import (
    Outcome,
    credential_revalidate,
    revalidation_countdowns,
    revalidation_plan,
)
from tests.conftest import celery_configured
from tests.factories import (
    CredentialFactory,
    SystemCredentialFactory,
    SystemProviderFactory,
    WorkspaceFactory,
)
from workspaces.models import AuditEntry

VALID_KEY = "sk-test-valid-0123456789abcdef"
BAD_KEY = "sk-test-invalid-0123456789abcdef"


@pytest.fixture
def eager():
    """The beat task's checks run in-process at once (their countdowns are not waited for)."""
    with celery_configured(task_always_eager=True):
        yield


@pytest.fixture
def openai_url(fake_providers):
    return fake_providers.base_url("openai")


def credential(workspace, openai_url, key: str, **extra) -> Credential:
    return CredentialFactory(
        workspace=workspace,
        secret_data=json.dumps({"api_key": key}),
        config={"base_url": openai_url},
        **extra,
    )


def fresh(row):
    row.refresh_from_db()
    return row


def test_a_refused_key_is_marked_failing_audited_and_shown_while_a_good_one_stays_active(
    workspace, openai_url, client_for, eager, fake_providers
):
    good = credential(workspace, openai_url, VALID_KEY, name="Good", is_default=True)
    bad = credential(workspace, openai_url, BAD_KEY, name="Revoked")

    tasks.revalidate_all()

    bad, good = fresh(bad), fresh(good)
    assert (bad.status, bad.last_error_code) == ("failing", "authentication_failed")
    assert bad.last_error_message.startswith("Authentication failed")
    assert bad.last_checked_at is not None
    assert (good.status, good.last_error_code) == ("active", "")
    assert good.last_checked_at is not None
    # The provider got the same call "Check now" makes, once per credential.
    assert sorted(r.headers.get("authorization") for r in fake_providers.requests) == sorted(
        [f"Bearer {VALID_KEY}", f"Bearer {BAD_KEY}"]
    )

    entry = AuditEntry.objects.get(workspace=workspace, action="credential.revalidate")
    assert (entry.outcome, entry.object_id, entry.actor) == ("failure", str(bad.pk), None)
    assert entry.details == {"provider": "openai", "model": "", "error": "authentication_failed"}
    assert BAD_KEY not in json.dumps(entry.details) + entry.object_repr
    log = client_for("owner").get("/settings/audit-log/").content.decode()
    assert "operator: beat revalidation" in log  # the scheduled task, not a person

    page = client_for("member").get("/settings/model-providers/").content.decode()
    assert "1 failing" in page
    detail = client_for("member").get("/settings/model-providers/openai/").content.decode()
    assert "Revoked" in detail and "Failing" in detail and BAD_KEY not in detail


def test_a_failing_key_fixed_at_the_provider_is_restored(workspace, openai_url, eager):
    fixed = credential(workspace, openai_url, BAD_KEY, is_default=True)
    tasks.revalidate_all()
    assert fresh(fixed).status == "failing"

    fixed.secret_data = json.dumps({"api_key": VALID_KEY})  # the key works again
    fixed.save()
    tasks.revalidate_all()

    fixed = fresh(fixed)
    assert (fixed.status, fixed.last_error_code, fixed.last_error_message) == ("active", "", "")
    restored = AuditEntry.objects.get(action="credential.revalidate", outcome="success")
    assert restored.details["restored"] is True and restored.object_id == str(fixed.pk)


def test_a_working_key_writes_no_audit_entry(workspace, openai_url):
    good = credential(workspace, openai_url, VALID_KEY)
    assert credential_revalidate(credential_id=good.pk) is Outcome.ACTIVE
    assert not AuditEntry.objects.filter(action="credential.revalidate").exists()


@pytest.mark.parametrize("key", ["sk-test-ratelimited-1234567890", "sk-test-error500-1234567890"])
def test_a_provider_in_trouble_leaves_the_credential_as_it_was(workspace, openai_url, key, caplog):
    row = credential(workspace, openai_url, key)
    with caplog.at_level(logging.WARNING, logger="system.revalidation"):
        outcome = credential_revalidate(credential_id=row.pk)
    assert outcome is Outcome.INCONCLUSIVE
    row = fresh(row)
    assert (row.status, row.last_error_code, row.last_checked_at) == ("active", "", None)
    assert not AuditEntry.objects.filter(action="credential.revalidate").exists()
    assert "inconclusive" in caplog.text and key not in caplog.text


def test_a_secret_that_no_longer_decrypts_is_marked_failing(workspace, openai_url, settings):
    row = credential(workspace, openai_url, VALID_KEY)
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]

    assert credential_revalidate(credential_id=row.pk) is Outcome.FAILING

    status = Credential.objects.filter(pk=row.pk).values_list("status", "last_error_code").get()
    assert status == ("failing", "secret_unreadable")
    assert AuditEntry.objects.get(action="credential.revalidate").details["error"] == (
        "secret_unreadable"
    )


def test_a_deleted_credential_is_skipped(workspace, openai_url):
    row = credential(workspace, openai_url, VALID_KEY)
    pk = row.pk
    row.delete()
    assert credential_revalidate(credential_id=pk) is Outcome.SKIPPED


def test_system_credentials_are_marked_and_restored_without_a_workspace_audit(
    workspace, fake_providers, eager, caplog
):
    system = SystemProviderFactory()
    base = {"config": {"base_url": fake_providers.base_url("openai")}, "system_provider": system}
    good = SystemCredentialFactory(
        name="operator-good", secret_data=json.dumps({"api_key": VALID_KEY}), **base
    )
    bad = SystemCredentialFactory(
        name="operator-revoked", secret_data=json.dumps({"api_key": BAD_KEY}), **base
    )

    with caplog.at_level(logging.WARNING, logger="system.revalidation"):
        tasks.revalidate_all()

    bad, good = fresh(bad), fresh(good)
    assert (bad.status, bad.last_error_code) == ("failing", "authentication_failed")
    assert (good.status, good.last_error_code) == ("active", "")
    assert good.last_checked_at is not None
    assert not AuditEntry.objects.exists()
    assert "operator-revoked" in caplog.text and "authentication_failed" in caplog.text
    assert BAD_KEY not in caplog.text

    bad.secret_data = json.dumps({"api_key": VALID_KEY})
    bad.save()
    tasks.revalidate_all()
    assert (fresh(bad).status, bad.last_error_code, bad.last_error_message) == ("active", "", "")


# --- spacing -----------------------------------------------------------------------------------


def most_in_any_minute(times: list[int]) -> int:
    """The most checks any 60-second window [t, t + 60) holds (windows start at a check)."""
    times = sorted(times)
    return max(sum(1 for u in times if t <= u < t + 60) for t in times)


@pytest.mark.parametrize("per_minute", [1, 7, 30, 45, 60, 200])
def test_spacing_keeps_each_workspace_within_its_rate(per_minute):
    groups = ["big"] * 500 + ["small"] * 3 + ["big"] * 100 + ["other"] * 40
    countdowns = revalidation_countdowns(groups, per_minute=per_minute)

    for group in ("big", "small", "other"):
        mine = [c for g, c in zip(groups, countdowns, strict=True) if g == group]
        assert mine[0] == 0  # a workspace does not wait for another's checks
        assert all(a <= b for a, b in pairwise(mine))
        assert most_in_any_minute(mine) <= per_minute
        # ...and it is not slower than it needs to be: the last check is due on time.
        assert mine[-1] <= (len(mine) - 1) * 60 / per_minute + 1


def test_spacing_at_the_default_rate_is_two_seconds():
    assert revalidation_countdowns(["a", "a", "b", "a", "b"], per_minute=30) == [0, 2, 0, 4, 2]


def test_spacing_refuses_a_rate_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        revalidation_countdowns(["a"], per_minute=0)


def test_the_plan_spaces_each_workspace_and_the_operator_keys_on_their_own(
    workspace, openai_url, fake_providers
):
    other = WorkspaceFactory()
    mine = [credential(workspace, openai_url, VALID_KEY, name=f"k{n}") for n in range(3)]
    theirs = credential(other, openai_url, VALID_KEY, name="theirs")
    operator = SystemCredentialFactory()

    plan = {(check.task, check.pk): check.countdown for check in revalidation_plan(per_minute=20)}

    assert [plan[("credential", c.pk)] for c in mine] == [0, 3, 6]
    assert plan[("credential", theirs.pk)] == 0
    assert plan[("system", operator.pk)] == 0


def test_beat_runs_the_revalidation_task_daily_by_default():
    from config.celery import app

    entry = django_settings.CELERY_BEAT_SCHEDULE["revalidate-credentials"]
    assert entry["task"] == "credentials.revalidate_all" in app.tasks
    assert entry["schedule"] == django_settings.CREDENTIAL_REVALIDATION_SECONDS
    assert django_settings.CREDENTIAL_REVALIDATION_SECONDS == 86400
    assert django_settings.CREDENTIAL_REVALIDATION_RATE == 30
