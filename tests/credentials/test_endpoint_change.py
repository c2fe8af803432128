"""A stored secret goes only to the address it was saved with: an edit that changes a URL field
(base URL, endpoint) must type the secret again, and says so; nothing is sent or changed
otherwise. The "other address" is a second loopback fake that records what reaches it."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from credentials.models import Credential, PendingValidation, ValidationStatus
from tests.factories import CredentialFactory

HX = {"HX-Request": "true"}
STORED = "sk-test-valid-stored-0123456789"


@pytest.fixture
def admin(client_for):
    return client_for("admin")


@pytest.fixture
def stored(workspace, fake_providers):
    return CredentialFactory(
        workspace=workspace,
        name="Main",
        is_default=True,
        secret_data=json.dumps({"api_key": STORED}),
        masks={"api_key": "sk-…6789"},
        config={"base_url": fake_providers.base_url("openai")},
    )


def _saw(server, secret: str) -> bool:
    return any(secret in json.dumps(r.headers) + repr(r.body) for r in server.requests)


def test_repointing_the_base_url_with_the_secret_left_empty_sends_nothing_and_asks_for_it(
    admin, stored, elsewhere
):
    response = admin.post(
        reverse("credential-update", args=["openai", stored.pk]),
        {"name": "Main", "api_key": "", "base_url": elsewhere.base_url("openai")},
        headers=HX,
    )
    assert not _saw(elsewhere, STORED), "the stored key reached the new address"
    assert elsewhere.requests == []
    assert response.status_code == 422
    html = response.content.decode()
    assert "API Base URL changed: type the API Key again" in html
    assert STORED not in html
    stored.refresh_from_db()
    assert stored.config["base_url"] != elsewhere.base_url("openai")
    assert not PendingValidation.objects.exists()


def test_repointing_the_base_url_with_the_secret_typed_again_validates_it_there(
    admin, stored, elsewhere
):
    typed = "sk-test-valid-typed-again-987654"
    admin.post(
        reverse("credential-update", args=["openai", stored.pk]),
        {"name": "Main", "api_key": typed, "base_url": elsewhere.base_url("openai")},
        headers=HX,
    )
    assert _saw(elsewhere, typed) and not _saw(elsewhere, STORED)
    stored.refresh_from_db()
    assert stored.config["base_url"] == elsewhere.base_url("openai")
    assert stored.secrets == {"api_key": typed}


def test_a_failed_edit_cannot_be_resubmitted_as_a_new_credential_elsewhere(
    admin, workspace, fake_providers, elsewhere
):
    """A failed edit keeps its payload (the stored key included) for the retry window; naming
    it as the attempt a new credential retries must not carry that key to another address."""
    limited = "sk-test-ratelimited-stored-0123"
    credential = CredentialFactory(
        workspace=workspace,
        name="Main",
        secret_data=json.dumps({"api_key": limited}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    admin.post(
        reverse("credential-update", args=["openai", credential.pk]),
        {"name": "Main", "api_key": "", "base_url": fake_providers.base_url("openai")},
        headers=HX,
    )
    failed = PendingValidation.objects.get(status=ValidationStatus.FAILED)
    response = admin.post(
        reverse("credential-create", args=["openai"]),
        {
            "name": "Copy",
            "api_key": "",
            "base_url": elsewhere.base_url("openai"),
            "retry_of": str(failed.pk),
        },
        headers=HX,
    )
    assert not _saw(elsewhere, limited), "the stored key reached the new address"
    assert response.status_code == 422
    assert not Credential.objects.filter(name="Copy").exists()


def test_the_edit_form_says_an_address_change_needs_the_secret_again(admin, stored):
    html = admin.get(
        reverse("credential-update", args=["openai", stored.pk]), headers=HX
    ).content.decode()
    assert "Changing the API Base URL needs it typed again." in html


def test_changing_only_the_name_still_keeps_the_stored_secret(admin, stored, fake_providers):
    admin.post(
        reverse("credential-update", args=["openai", stored.pk]),
        {"name": "Renamed", "api_key": "", "base_url": fake_providers.base_url("openai")},
        headers=HX,
    )
    stored.refresh_from_db()
    assert stored.name == "Renamed" and stored.secrets == {"api_key": STORED}
