"""Encryption-key rotation end to end: secrets written under key A, the command run with
[B, A], then only B configured, and every secret still reads back as written."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from credentials.crypto import SecretDecryptionError
from credentials.models import Credential, PendingValidation
from system.models import SystemCredential
from tests.factories import CredentialFactory, PendingValidationFactory, SystemCredentialFactory

CANARY = "sk-canary-rotation-5f0c9e1d2b7a"


def new_key() -> str:
    return Fernet.generate_key().decode()


RAW_COLUMN = {  # the stored token, read past the ORM (literal SQL per table)
    Credential: "SELECT secret_data FROM credentials_credential WHERE id = %s",
    PendingValidation: "SELECT secret_payload FROM credentials_pendingvalidation WHERE id = %s",
    SystemCredential: "SELECT secret_data FROM system_systemcredential WHERE id = %s",
}


def raw(model, field: str, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(RAW_COLUMN[model], [model._meta.pk.get_db_prep_value(pk, connection)])
        return cursor.fetchone()[0]


def rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_encryption_key", *args, stdout=out)
    return out.getvalue()


def counts(output: str) -> dict[str, tuple[int, int, int]]:
    """{"credentials.Credential": (rotated, already current, total), ...} from the report."""
    found = re.findall(
        r"^([\w.]+): (\d+) rotated, (\d+) already current, (\d+) total\b", output, re.M
    )
    return {table: (int(r), int(c), int(t)) for table, r, c, t in found}


@pytest.fixture
def key_a(settings):
    key = new_key()
    settings.FIELD_ENCRYPTION_KEY = [key]
    return key


@pytest.fixture
def stored(workspace, key_a):
    """Under key A: three credentials, two pending validations (one already wiped) and two
    system credentials, each with its own secret."""
    secrets = {}
    for n in range(3):
        value = json.dumps({"api_key": f"{CANARY}-credential-{n}"})
        credential = CredentialFactory(workspace=workspace, name=f"Key {n}", secret_data=value)
        secrets[(Credential, "secret_data", credential.pk)] = value
    for n in range(2):
        value = json.dumps({"api_key": f"{CANARY}-pending-{n}"})
        pending = PendingValidationFactory(workspace=workspace, secret_payload=value)
        secrets[(PendingValidation, "secret_payload", pending.pk)] = value
    PendingValidationFactory(  # a finished one: no secret left to rotate
        workspace=workspace, secret_payload=None, expires_at=timezone.now()
    )
    for n in range(2):
        value = json.dumps({"api_key": f"{CANARY}-system-{n}"})
        row = SystemCredentialFactory(secret_data=value)
        secrets[(SystemCredential, "secret_data", row.pk)] = value
    return secrets


def read_back(model, field: str, pk) -> str:
    return getattr(model.objects.get(pk=pk), field)


def test_rotation_reencrypts_every_secret_so_the_old_key_can_be_removed(stored, key_a, settings):
    key_b = new_key()
    before = {where: raw(*where) for where in stored}
    updated_at = {c.pk: c.updated_at for c in Credential.objects.all()}
    settings.FIELD_ENCRYPTION_KEY = [key_b, key_a]

    output = rotate()

    assert counts(output) == {
        "credentials.Credential": (3, 0, 3),
        "credentials.PendingValidation": (2, 0, 2),
        "system.SystemCredential": (2, 0, 2),
    }
    assert CANARY not in output
    for where, plaintext in stored.items():
        token = raw(*where)
        assert token != before[where]
        # Encrypted once, with B: B alone decrypts the column straight to the plaintext.
        assert Fernet(key_b).decrypt(token.encode()).decode() == plaintext
    # Rotation is not an edit.
    assert {c.pk: c.updated_at for c in Credential.objects.all()} == updated_at

    settings.FIELD_ENCRYPTION_KEY = [key_b]
    for (model, field, pk), plaintext in stored.items():
        assert read_back(model, field, pk) == plaintext
    assert Credential.objects.get(pk=next(iter(stored))[2]).secrets["api_key"].startswith(CANARY)


def test_a_second_run_finds_everything_already_current(stored, key_a, settings):
    settings.FIELD_ENCRYPTION_KEY = [new_key(), key_a]
    rotate()
    tokens = {where: raw(*where) for where in stored}

    output = rotate("--batch-size", "2")

    assert counts(output) == {
        "credentials.Credential": (0, 3, 3),
        "credentials.PendingValidation": (0, 2, 2),
        "system.SystemCredential": (0, 2, 2),
    }
    assert {where: raw(*where) for where in stored} == tokens  # nothing rewritten


def test_an_interrupted_run_continues_where_it_stopped(stored, key_a, settings):
    key_b = new_key()
    settings.FIELD_ENCRYPTION_KEY = [key_b, key_a]

    first = rotate("--batch-size", "1", "--limit", "4")

    assert "Stopped after 4 re-encrypted values" in first
    assert counts(first)["credentials.Credential"] == (3, 0, 3)
    assert counts(first)["credentials.PendingValidation"] == (1, 0, 1)  # the "(stopped here)" line
    assert "system.SystemCredential" not in counts(first)
    on_b = [where for where in stored if _decrypts_with(key_b, raw(*where))]
    assert len(on_b) == 4

    second = rotate("--batch-size", "1")

    assert counts(second) == {
        "credentials.Credential": (0, 3, 3),
        "credentials.PendingValidation": (1, 1, 2),
        "system.SystemCredential": (2, 0, 2),
    }
    settings.FIELD_ENCRYPTION_KEY = [key_b]
    for (model, field, pk), plaintext in stored.items():
        assert read_back(model, field, pk) == plaintext


def _decrypts_with(key: str, token: str) -> bool:
    try:
        Fernet(key).decrypt(token.encode())
    except Exception:
        return False
    return True


def test_a_secret_no_key_decrypts_fails_naming_the_row_and_writes_nothing_of_its_batch(
    stored, workspace, key_a, settings
):
    key_c = new_key()
    settings.FIELD_ENCRYPTION_KEY = [key_c]
    lost = CredentialFactory(
        workspace=workspace, name="Lost", secret_data=json.dumps({"api_key": CANARY + "-lost"})
    )
    settings.FIELD_ENCRYPTION_KEY = [new_key(), key_a]
    credential_tokens = {where: raw(*where) for where in stored if where[0] is Credential}

    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("rotate_encryption_key", stdout=out, stderr=err)

    message = str(failure.value)
    assert f"credentials.Credential row {lost.pk}" in message
    assert "cannot be decrypted with any key" in message
    assert CANARY not in message + out.getvalue() + err.getvalue()
    assert key_a not in message and key_c not in message
    # The failing row shares the batch with the three earlier credentials: none was rewritten.
    assert {where: raw(*where) for where in credential_tokens} == credential_tokens
    # The command stopped there: later tables were not touched either.
    assert all(_decrypts_with(key_a, raw(*where)) for where in stored)


def test_a_failure_keeps_earlier_batches_and_the_next_run_resumes_after_the_fix(
    stored, workspace, key_a, settings
):
    key_b, key_c = new_key(), new_key()
    settings.FIELD_ENCRYPTION_KEY = [key_c]
    lost = CredentialFactory(workspace=workspace, name="Lost", secret_data=json.dumps({"k": "v"}))
    settings.FIELD_ENCRYPTION_KEY = [key_b, key_a]

    with pytest.raises(CommandError, match=rf"credentials\.Credential row {lost.pk}\b"):
        rotate("--batch-size", "1")

    earlier = [where for where in stored if where[0] is Credential]
    assert all(_decrypts_with(key_b, raw(*where)) for where in earlier)  # batches of 1 kept
    # The operator restores key C (after the new key) and runs again.
    settings.FIELD_ENCRYPTION_KEY = [key_b, key_a, key_c]
    output = rotate("--batch-size", "1")
    assert counts(output)["credentials.Credential"] == (1, 3, 4)
    settings.FIELD_ENCRYPTION_KEY = [key_b]
    assert Credential.objects.get(pk=lost.pk).secrets == {"k": "v"}


def test_without_rotation_removing_the_old_key_fails_loudly(stored, key_a, settings):
    """The premise the command exists for: the old key cannot simply be dropped."""
    settings.FIELD_ENCRYPTION_KEY = [new_key()]
    (model, field, pk), _ = next(iter(stored.items()))
    with pytest.raises(SecretDecryptionError):
        read_back(model, field, pk)
