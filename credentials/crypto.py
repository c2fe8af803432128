"""Encryption of stored secrets, strict about keys.

django-encrypted-model-fields returns the ciphertext unchanged when a token does not decrypt
(a wrong or rotated-away FIELD_ENCRYPTION_KEY), which would send ciphertext to a provider as an
API key. Here a token that does not decrypt raises `SecretDecryptionError`, loudly, and the key
list is read from settings on use, so rotation (new key first) takes effect without a restart.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from encrypted_model_fields.fields import EncryptedTextField

from upstream.errors import ProviderError


class SecretDecryptionError(RuntimeError):
    """A stored secret does not decrypt with any key in FIELD_ENCRYPTION_KEY."""


class SecretUnreadable(ProviderError):
    """How a validation reports a secret that does not decrypt (shown like provider errors)."""

    code = "secret_unreadable"
    title = "Stored secret cannot be decrypted"
    hint = (
        "FIELD_ENCRYPTION_KEY does not hold the key this secret was encrypted with. The "
        "operator must restore that key (keys are a comma-separated list); or edit the "
        "credential and type the secret again."
    )


@lru_cache(maxsize=4)
def _crypter(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is empty.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key (32 url-safe base64 "
            "bytes)."
        ) from exc


def crypter() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEY
    return _crypter(tuple(keys) if isinstance(keys, (list, tuple)) else (keys,))


def encrypt(plaintext: str) -> str:
    return crypter().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return crypter().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError):
        raise SecretDecryptionError(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY. The key is wrong or "
            "the key that encrypted it was removed; restore it (keys are a comma-separated list, "
            "the first encrypts, all decrypt)."
        ) from None


class StrictEncryptedTextField(EncryptedTextField):
    """An encrypted text column that raises instead of returning ciphertext."""

    def get_db_prep_save(self, value, connection):
        if value is None or value == "":
            return value
        return encrypt(str(value))

    def from_db_value(self, value, expression, connection, *args):
        if value is None or value == "":
            return value
        return decrypt(value)

    def to_python(self, value):
        # Values assigned in Python are plaintext; decryption happens only when loading.
        return value
