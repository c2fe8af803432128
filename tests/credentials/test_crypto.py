"""Stored secrets are encrypted, and a wrong key fails loudly instead of yielding ciphertext."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from credentials.crypto import SecretDecryptionError
from credentials.models import Credential
from tests.factories import CredentialFactory

CANARY = "sk-canary-7d1e0c2b9a8f4e6d"


def raw_column(credential: Credential) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_data FROM credentials_credential WHERE id = %s", [credential.pk]
        )
        return cursor.fetchone()[0]


def test_secret_fields_are_stored_encrypted(workspace):
    credential = CredentialFactory(workspace=workspace, secret_data=json.dumps({"api_key": CANARY}))
    stored = raw_column(credential)
    assert CANARY not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    assert Credential.objects.get(pk=credential.pk).secrets == {"api_key": CANARY}


def test_a_wrong_key_raises_instead_of_returning_ciphertext(workspace, settings):
    credential = CredentialFactory(workspace=workspace, secret_data=json.dumps({"api_key": CANARY}))
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    with pytest.raises(SecretDecryptionError, match="cannot be decrypted with FIELD_ENCRYPTION"):
        Credential.objects.get(pk=credential.pk)


def test_a_new_key_first_still_decrypts_old_secrets_and_encrypts_new_ones(workspace, settings):
    old_key = settings.FIELD_ENCRYPTION_KEY[0]
    credential = CredentialFactory(workspace=workspace, secret_data=json.dumps({"api_key": CANARY}))
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [new_key, old_key]
    assert Credential.objects.get(pk=credential.pk).secrets["api_key"] == CANARY
    second = CredentialFactory(workspace=workspace, secret_data=json.dumps({"api_key": "x" * 20}))
    settings.FIELD_ENCRYPTION_KEY = [new_key]
    assert Credential.objects.get(pk=second.pk).secrets["api_key"] == "x" * 20


def test_with_a_wrong_key_pages_still_work_and_checks_say_why(workspace, settings, client_for):
    from django.urls import reverse

    credential = CredentialFactory(workspace=workspace, is_default=True, name="Locked")
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    admin = client_for("admin")
    page = admin.get(reverse("provider-detail", args=["openai"]))
    assert page.status_code == 200 and "Locked" in page.content.decode()
    row = admin.post(
        reverse("credential-check", args=["openai", credential.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    assert "Stored secret cannot be decrypted" in row
    edit = admin.post(
        reverse("credential-update", args=["openai", credential.pk]),
        {"name": "Locked", "api_key": ""},
        headers={"HX-Request": "true"},
    )
    assert edit.status_code == 422
    assert "cannot be decrypted with FIELD_ENCRYPTION_KEY" in edit.content.decode()
