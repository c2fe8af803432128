"""Operational guards: failed logins locked out per account and per address, validation
submissions limited per workspace, and logs as JSON lines that never carry a secret."""

from __future__ import annotations

import io
import json
import logging

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from config.logs import JsonLines, RedactSecrets
from credentials.models import PendingValidation
from credentials.services import validation_check_all, validation_request_create
from tests.factories import CredentialFactory
from workspaces.exceptions import ApplicationError

PASSWORD = "a-long-test-password"


def sign_in(email: str, password: str, address: str = "10.0.0.1"):
    return Client().post(
        reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=address
    )


@pytest.fixture
def account(members):
    user = members["admin"].user
    user.set_password(PASSWORD)
    user.save()
    return user


def test_an_account_is_locked_after_five_failures(account, settings):
    for attempt in range(4):
        assert sign_in(account.email, "wrong", f"10.0.1.{attempt}").status_code == 200
    assert sign_in(account.email, "wrong", "10.0.1.9").status_code == 429  # the fifth locks
    locked = sign_in(account.email.upper(), PASSWORD, "10.0.2.1")  # right password, elsewhere
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content


def test_failures_of_unknown_accounts_do_not_lock_anyone_else(account):
    for attempt in range(6):
        sign_in(f"nobody{attempt}@acme.test", "wrong", f"10.0.5.{attempt}")
    assert sign_in(account.email, PASSWORD, "10.0.5.9").status_code == 302


def test_an_address_is_locked_after_five_failures_whatever_the_account(account, members):
    for attempt in range(5):
        sign_in(f"nobody{attempt}@acme.test", "wrong", "10.0.3.3")
    assert sign_in(account.email, PASSWORD, "10.0.3.3").status_code == 429
    assert sign_in(account.email, PASSWORD, "10.0.3.4").status_code == 302  # elsewhere: fine


def test_a_success_resets_the_accounts_count(account):
    for _ in range(4):
        sign_in(account.email, "wrong")
    assert sign_in(account.email, PASSWORD).status_code == 302
    for _ in range(4):
        sign_in(account.email, "wrong", "10.0.4.4")
    assert sign_in(account.email, PASSWORD, "10.0.4.5").status_code == 302


PROXY = "10.0.0.254"  # the TLS proxy every request comes through in production
CLIENT_A, CLIENT_B = "203.0.113.7", "198.51.100.20"


def sign_in_through_proxy(email: str, password: str, forwarded_for: str, page: str = "login"):
    """A sign-in as the documented production set-up delivers it: from the proxy's address,
    with the client's address appended to X-Forwarded-For by the proxy."""
    return Client().post(
        reverse(page),
        {"username": email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


@pytest.fixture
def behind_one_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1  # production's default (BEHIND_TLS_PROXY)


def test_behind_the_proxy_one_clients_failures_never_lock_out_another_client(
    behind_one_proxy, account
):
    account.is_staff = True
    account.save()
    for attempt in range(5):
        sign_in_through_proxy(f"nobody{attempt}@acme.test", "wrong", CLIENT_A)
    assert sign_in_through_proxy(account.email, PASSWORD, CLIENT_A).status_code == 429
    assert sign_in_through_proxy(account.email, PASSWORD, CLIENT_B).status_code == 302
    admin = sign_in_through_proxy(account.email, PASSWORD, CLIENT_B, page="admin:login")
    assert admin.status_code == 302


def test_a_spoofed_forwarded_chain_is_counted_against_the_address_the_proxy_saw(
    behind_one_proxy, account
):
    # Client A puts made-up addresses in its own X-Forwarded-For; the proxy appends A's.
    for attempt in range(5):
        sign_in_through_proxy(
            f"nobody{attempt}@acme.test", "wrong", f"evil, 192.0.2.{attempt}, {CLIENT_A}"
        )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {CLIENT_A}
    assert (
        sign_in_through_proxy(account.email, PASSWORD, f"{CLIENT_B}, {CLIENT_A}").status_code == 429
    )
    assert sign_in_through_proxy(account.email, PASSWORD, CLIENT_B).status_code == 302


def test_without_a_proxy_a_forwarded_header_cannot_dodge_the_address_lockout(account):
    for attempt in range(5):
        Client().post(
            reverse("login"),
            {"username": f"nobody{attempt}@acme.test", "password": "wrong"},
            REMOTE_ADDR=CLIENT_A,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}",
        )
    assert sign_in(account.email, PASSWORD, CLIENT_A).status_code == 429


def test_a_forwarded_entry_that_is_no_address_counts_as_the_proxy_and_is_no_error(
    behind_one_proxy, account
):
    response = sign_in_through_proxy(account.email, "wrong", "not-an-address")
    assert response.status_code == 200
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [PROXY]


def test_validation_submissions_are_limited_per_workspace(
    settings, workspace, members, other_workspace, fake_providers
):
    settings.CREDENTIAL_VALIDATIONS_PER_MINUTE = 3
    admin = members["admin"].user
    values = {"api_key": "sk-test-valid-1", "base_url": fake_providers.base_url("openai")}
    for _ in range(3):
        validation_request_create(
            workspace=workspace, provider_key="openai", acting_user=admin, values=values
        )
    before = PendingValidation.objects.count()
    with pytest.raises(ApplicationError) as refused:
        validation_request_create(
            workspace=workspace, provider_key="openai", acting_user=admin, values=values
        )
    assert "Too many validations" in refused.value.message
    assert PendingValidation.objects.count() == before  # nothing queued
    # Another workspace has its own budget.
    other_admin = other_workspace["admin"].user
    validation_request_create(
        workspace=other_workspace["workspace"],
        provider_key="openai",
        acting_user=other_admin,
        values=values,
    )


def test_check_all_counts_every_credential_it_would_check(settings, workspace, members):
    settings.CREDENTIAL_VALIDATIONS_PER_MINUTE = 2
    for name in ("a", "b", "c"):
        CredentialFactory(workspace=workspace, name=name)
    with pytest.raises(ApplicationError):
        validation_check_all(
            workspace=workspace, provider_key="openai", acting_user=members["admin"].user
        )
    assert not PendingValidation.objects.exists()


def test_the_form_shows_the_limit_and_saves_nothing(settings, client_for, fake_providers):
    client = client_for("admin")
    url = reverse("credential-create", args=["openai"])
    settings.CREDENTIAL_VALIDATIONS_PER_MINUTE = 1
    data = {"api_key": "sk-test-valid-1", "base_url": fake_providers.base_url("openai")}
    client.post(url, data)
    response = client.post(url, data)
    assert "Too many validations" in response.content.decode()
    assert PendingValidation.objects.count() == 1


def log_line(message: str, *args, exc: BaseException | None = None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    try:
        if exc is not None:
            try:
                raise exc
            except type(exc):
                logger.exception(message, *args)
        else:
            logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().strip()


def test_logs_are_json_lines_with_keys_masked():
    line = log_line("calling with Authorization: Bearer %s", "sk-live-abcdef1234567890")
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "test.json"
    assert "sk-live-abcdef1234567890" not in line
    assert "[redacted]" in entry["message"]


def test_secrets_in_exceptions_are_masked_too():
    line = log_line("failed", exc=ValueError("bad api_key=AIzaSyD-secret-value-123"))
    entry = json.loads(line)
    assert "AIzaSyD-secret-value-123" not in line
    assert "ValueError" in entry["exception"]
