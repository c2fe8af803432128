"""Test and save: a credential is saved only after the provider (a loopback fake speaking its
real wire format) accepts it. Embedded mode: the Celery task runs in-process."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from credentials import services
from credentials.models import Credential, PendingValidation, ValidationStatus
from tests.factories import CredentialFactory
from workspaces.models import AuditEntry

HX = {"HX-Request": "true"}
VALID_KEY = "sk-test-valid-0123456789abcdef"


def add(client, base_url: str, key: str, name: str = "", **extra):
    return client.post(
        reverse("credential-create", args=["openai"]),
        {"name": name, "api_key": key, "base_url": base_url, **extra},
        headers=HX,
    )


def triggers(response) -> dict:
    return json.loads(response.get("HX-Trigger", "{}"))


@pytest.fixture
def admin(client_for):
    return client_for("admin")


@pytest.fixture
def openai_url(fake_providers):
    return fake_providers.base_url("openai")


def test_a_valid_key_is_saved_as_the_first_and_default_credential(
    admin, workspace, openai_url, fake_providers
):
    response = add(admin, openai_url, VALID_KEY)
    assert response.status_code == 200
    assert "credentialsChanged" in triggers(response)
    credential = Credential.objects.get(workspace=workspace)
    assert credential.name == "API KEY 1"
    assert credential.is_default
    assert credential.secrets == {"api_key": VALID_KEY}
    assert credential.masks == {"api_key": "sk-…cdef"}
    assert credential.config == {"base_url": openai_url}
    # The fake saw the real call with the key as a Bearer token.
    assert any(
        r.headers.get("authorization") == f"Bearer {VALID_KEY}" for r in fake_providers.requests
    )
    # The typed secret does not linger in the pending validation.
    assert PendingValidation.objects.get().secret_payload is None
    assert AuditEntry.objects.filter(action="credential.create", outcome="success").exists()


def test_a_wrong_key_comes_back_classified_with_the_hint_and_nothing_saved(
    admin, workspace, openai_url
):
    response = add(
        admin, openai_url, "sk-test-invalid-0000000000", name="Prod key", organization="org-42"
    )
    html = response.content.decode()
    assert "Authentication failed" in html
    assert "Verify the key, its expiry, credits and permissions." in html
    assert 'value="Prod key"' in html and 'value="org-42"' in html  # what was typed is kept
    assert "sk-test-invalid-0000000000" not in html
    assert "Leave empty to reuse what you typed" in html
    assert triggers(response)["toast"]["level"] == "danger"
    assert not Credential.objects.filter(workspace=workspace).exists()
    entry = AuditEntry.objects.get(action="credential.create")
    assert entry.outcome == "failure" and entry.details["error"] == "authentication_failed"


def test_a_failed_form_resubmitted_without_retyping_reuses_the_typed_key(
    admin, workspace, openai_url, fake_providers
):
    first = add(admin, openai_url, "sk-test-ratelimited-00000000")
    retry_of = re.search(r'name="retry_of" value="([^"]+)"', first.content.decode()).group(1)
    fake_providers.reset()
    second = add(admin, openai_url, "", retry_of=retry_of)
    assert "Rate limited" in second.content.decode()
    assert [r.headers.get("authorization") for r in fake_providers.requests] == [
        "Bearer sk-test-ratelimited-00000000"
    ]
    third = add(admin, openai_url, VALID_KEY)
    assert "credentialsChanged" in triggers(third)
    assert Credential.objects.filter(workspace=workspace).count() == 1


@pytest.mark.parametrize(
    ("key", "code", "words"),
    [
        ("sk-test-invalid-1", "authentication_failed", "Authentication failed"),
        ("sk-test-forbidden-1", "authentication_failed", "Authentication failed"),
        ("sk-test-ratelimited-1", "rate_limited", "Rate limited"),
        ("sk-test-quota-1", "quota_exhausted", "Quota exhausted"),
        ("sk-test-notfound-1", "model_not_available", "Model not available"),
        ("sk-test-error500-1", "upstream_error", "Provider error"),
        ("sk-test-malformed-1", "upstream_error", "unreadable answer"),
    ],
)
def test_each_provider_answer_gets_its_own_message(
    members, workspace, openai_url, key, code, words
):
    pending = services.validation_request_create(
        workspace=workspace,
        provider_key="openai",
        acting_user=members["admin"].user,
        values={"api_key": key, "base_url": openai_url},
    )
    assert pending.status == ValidationStatus.FAILED
    assert pending.error_code == code
    assert words in pending.error_message
    assert key not in pending.error_message + pending.error_hint
    assert not Credential.objects.filter(workspace=workspace).exists()


def test_a_hanging_provider_times_out(members, workspace, openai_url, settings):
    settings.PROVIDER_READ_TIMEOUT = 0.5
    pending = services.validation_request_create(
        workspace=workspace,
        provider_key="openai",
        acting_user=members["admin"].user,
        values={"api_key": "sk-test-hang-1", "base_url": openai_url},
    )
    assert (pending.status, pending.error_code) == (ValidationStatus.FAILED, "timeout")


@pytest.mark.parametrize(
    ("base_url", "code"),
    [
        ("http://127.0.0.1:9/v1", "unsafe_url"),  # loopback, not allow-listed: refused unsent
        ("http://169.254.169.254/latest", "unsafe_url"),
        ("http://nonexistent.invalid/v1", "unreachable"),
    ],
)
def test_unsafe_and_unreachable_addresses_are_refused_with_their_reason(
    members, workspace, fake_providers, base_url, code
):
    pending = services.validation_request_create(
        workspace=workspace,
        provider_key="openai",
        acting_user=members["admin"].user,
        values={"api_key": VALID_KEY, "base_url": base_url},
    )
    assert pending.error_code == code
    if code == "unsafe_url":
        assert "PROVIDER_URL_ALLOWLIST" in pending.error_hint


def test_a_refused_connection_is_unreachable(members, workspace, settings, fake_providers):
    settings.PROVIDER_URL_ALLOWLIST = [*settings.PROVIDER_URL_ALLOWLIST, "127.0.0.1:9"]
    pending = services.validation_request_create(
        workspace=workspace,
        provider_key="openai",
        acting_user=members["admin"].user,
        values={"api_key": VALID_KEY, "base_url": "http://127.0.0.1:9/v1"},
    )
    assert pending.error_code == "unreachable"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"api_key": ""}, "api_key", "This field is required."),
        ({"base_url": "api.example.com"}, "base_url", "starts with http:// or https://"),
        ({"name": "x" * 10_000}, "name", "at most 100 characters"),
        ({"name": "bad\x00name"}, "name", "Null characters are not allowed."),
        ({"name": "line\nbreak"}, "name", "control characters"),
    ],
)
def test_bad_input_is_a_form_error_and_changes_nothing(
    admin, workspace, openai_url, data, field, message
):
    payload = {"api_key": VALID_KEY, "base_url": openai_url, **data}
    response = admin.post(reverse("credential-create", args=["openai"]), payload, headers=HX)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not PendingValidation.objects.exists()
    assert not Credential.objects.exists()


def test_html_in_a_name_is_escaped(admin, workspace, openai_url, client_for):
    add(admin, openai_url, VALID_KEY, name="<script>alert(1)</script>")
    html = client_for("member").get(reverse("provider-detail", args=["openai"])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_duplicate_names_in_a_scope_are_refused(admin, workspace, openai_url):
    add(admin, openai_url, VALID_KEY, name="Main")
    response = add(admin, openai_url, VALID_KEY, name="Main")
    assert response.status_code == 422
    assert "already exists" in response.content.decode()


def test_names_default_to_the_next_api_key_number(admin, workspace, openai_url):
    for _ in range(3):
        add(admin, openai_url, VALID_KEY)
    names = list(Credential.objects.values_list("name", flat=True).order_by("pk"))
    assert names == ["API KEY 1", "API KEY 2", "API KEY 3"]
    assert Credential.objects.filter(is_default=True).get().name == "API KEY 1"


def test_edit_shows_placeholders_and_keeps_the_stored_secret(
    admin, workspace, openai_url, fake_providers
):
    add(admin, openai_url, VALID_KEY, name="Main")
    credential = Credential.objects.get()
    form = admin.get(reverse("credential-update", args=["openai", credential.pk]), headers=HX)
    html = form.content.decode()
    assert VALID_KEY not in html
    assert "sk-…cdef — leave empty to keep" in html
    fake_providers.reset()
    response = admin.post(
        reverse("credential-update", args=["openai", credential.pk]),
        {"name": "Renamed", "api_key": "", "base_url": openai_url},
        headers=HX,
    )
    assert "credentialsChanged" in triggers(response)
    credential.refresh_from_db()
    assert credential.name == "Renamed"
    assert credential.secrets == {"api_key": VALID_KEY}
    assert fake_providers.requests[0].headers["authorization"] == f"Bearer {VALID_KEY}"


def test_an_edit_that_fails_validation_changes_nothing(admin, workspace, openai_url):
    add(admin, openai_url, VALID_KEY, name="Main")
    credential = Credential.objects.get()
    response = admin.post(
        reverse("credential-update", args=["openai", credential.pk]),
        {"name": "Renamed", "api_key": "sk-test-invalid-2", "base_url": openai_url},
        headers=HX,
    )
    assert "Authentication failed" in response.content.decode()
    credential.refresh_from_db()
    assert (credential.name, credential.secrets["api_key"]) == ("Main", VALID_KEY)


def test_check_now_marks_a_credential_failing_and_back(admin, workspace, openai_url):
    credential = CredentialFactory(
        workspace=workspace,
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-invalid-3"}),
        config={"base_url": openai_url},
    )
    url = reverse("credential-check", args=["openai", credential.pk])
    row = admin.post(url, headers=HX).content.decode()
    assert "Failing" in row and "Authentication failed" in row
    credential.refresh_from_db()
    assert credential.status == "failing"
    credential.secret_data = json.dumps({"api_key": VALID_KEY})
    credential.save()
    row = admin.post(url, headers=HX).content.decode()
    assert "Active" in row
    credential.refresh_from_db()
    assert credential.status == "active" and credential.last_checked_at is not None


def test_check_all_reports_each_row(admin, workspace, openai_url):
    good = CredentialFactory(
        workspace=workspace,
        name="good",
        is_default=True,
        config={"base_url": openai_url},
        secret_data=json.dumps({"api_key": VALID_KEY}),
    )
    bad = CredentialFactory(
        workspace=workspace,
        name="bad",
        config={"base_url": openai_url},
        secret_data=json.dumps({"api_key": "sk-test-quota-9"}),
    )
    response = admin.post(reverse("credential-check-all", args=["openai"]), headers=HX)
    assert triggers(response)["toast"]["message"] == "Checked 2 credentials: 1 failing."
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.status, bad.status) == ("active", "failing")
    assert bad.last_error_code == "quota_exhausted"


def test_the_providers_list_shows_count_default_and_failing(
    admin, workspace, openai_url, client_for
):
    add(admin, openai_url, VALID_KEY, name="Primary")
    CredentialFactory(workspace=workspace, name="Broken", status="failing")
    html = client_for("member").get(reverse("provider-list")).content.decode()
    assert "1 failing" in html
    assert "Primary" in html
    assert html.index("OpenAI") < html.index("Anthropic")  # configured first


def test_deleting_the_default_says_there_is_no_default(admin, workspace, openai_url, client_for):
    add(admin, openai_url, VALID_KEY, name="Only")
    credential = Credential.objects.get()
    confirm = admin.get(reverse("credential-delete", args=["openai", credential.pk]), headers=HX)
    assert "This is the default credential" in confirm.content.decode()
    response = admin.post(reverse("credential-delete", args=["openai", credential.pk]), headers=HX)
    assert "has no default credential now" in triggers(response)["toast"]["message"]
    CredentialFactory(workspace=workspace, name="Spare")
    html = client_for("member").get(reverse("provider-detail", args=["openai"])).content.decode()
    assert "No default credential." in html
    assert "No credential" in html  # the predefined models' status


def test_members_see_names_masks_and_status_but_no_buttons(
    admin, workspace, openai_url, client_for
):
    add(admin, openai_url, VALID_KEY, name="Main")
    html = client_for("member").get(reverse("provider-detail", args=["openai"])).content.decode()
    assert "Main" in html and "sk-…cdef" in html and "Default" in html
    for button in ["Add credential", "Check all", "Select as default", "Check now", ">Delete<"]:
        assert button not in html


def test_a_result_arriving_after_the_timeout_is_not_saved(
    members, workspace, openai_url, queued_only
):
    pending = services.validation_request_create(
        workspace=workspace,
        provider_key="openai",
        acting_user=members["admin"].user,
        values={"api_key": VALID_KEY, "base_url": openai_url},
    )
    assert pending.status == ValidationStatus.QUEUED  # nobody consumes the queue here
    PendingValidation.objects.filter(pk=pending.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    # The page polls and gives up: timed out, typed secret wiped.
    pending = services.pending_validation_expire_if_overdue(pending=pending)
    assert pending.status == ValidationStatus.EXPIRED and pending.secret_payload is None
    # A worker that picks the task up afterwards saves nothing.
    services.pending_validation_run(pending_id=str(pending.pk))
    assert not Credential.objects.exists()


def test_running_a_validation_twice_saves_once(members, workspace, openai_url, queued_only):
    pending = services.validation_request_create(
        workspace=workspace,
        provider_key="openai",
        acting_user=members["admin"].user,
        values={"api_key": VALID_KEY, "base_url": openai_url},
    )
    services.pending_validation_run(pending_id=str(pending.pk))
    services.pending_validation_run(pending_id=str(pending.pk))
    assert Credential.objects.count() == 1


def test_an_unreachable_broker_says_validation_service_unavailable(
    admin, workspace, openai_url, broker_down
):
    response = add(admin, openai_url, VALID_KEY)
    html = response.content.decode()
    assert "Validation service unavailable" in html
    assert not Credential.objects.exists()


def test_the_poll_answers_204_while_waiting_and_times_out_cleanly(
    admin, members, workspace, openai_url, queued_only
):
    pending = services.validation_request_create(
        workspace=workspace,
        provider_key="openai",
        acting_user=members["admin"].user,
        values={"api_key": VALID_KEY, "base_url": openai_url},
    )
    url = reverse("validation-detail", args=[pending.pk])
    assert admin.get(url, headers=HX).status_code == 204
    PendingValidation.objects.filter(pk=pending.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = admin.get(url, headers=HX)
    assert response.status_code == 286
    assert "Validation timed out" in response.content.decode()
    assert not Credential.objects.exists()


def test_the_sweep_wipes_typed_secrets_past_their_time(members, workspace, openai_url):
    pending = services.validation_request_create(
        workspace=workspace,
        provider_key="openai",
        acting_user=members["admin"].user,
        values={"api_key": "sk-test-invalid-5", "base_url": openai_url},
    )
    assert pending.secret_payload  # kept for a resubmit
    services.pending_validations_sweep(now=pending.expires_at + timedelta(seconds=1))
    pending.refresh_from_db()
    assert pending.secret_payload is None
