"""Encryption-key rotation: re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEY.

The operator puts the new key first in the list (every process), runs
`manage.py rotate_encryption_key`, then removes the old key. Rows are walked in primary-key
order, one transaction per batch; a value already encrypted with the first key is left alone,
so a run that was interrupted simply starts again and skips what is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import ExpressionWrapper, F

from .crypto import SecretDecryptionError, StrictEncryptedTextField, decrypt


@dataclass(frozen=True)
class EncryptedColumn:
    label: str  # how reports and errors name the table: "app_label.Model"
    model: type[models.Model]
    field: str


@dataclass
class RotationCount:
    table: str
    rotated: int = 0
    current: int = 0  # already encrypted with the first key

    @property
    def total(self) -> int:
        return self.rotated + self.current


class SecretUnrecoverable(RuntimeError):
    """A stored value no key in FIELD_ENCRYPTION_KEY decrypts; names the row, never the value."""

    def __init__(self, *, table: str, pk: object):
        self.table, self.pk = table, pk
        super().__init__(
            f"{table} row {pk}: the stored secret cannot be decrypted with any key in "
            "FIELD_ENCRYPTION_KEY. Put back the key it was encrypted with (after the new one) "
            "and run again; nothing of this batch was written."
        )


def encrypted_columns() -> list[EncryptedColumn]:
    """Every column holding a secret encrypted with FIELD_ENCRYPTION_KEY: every field of type
    `StrictEncryptedTextField`, in any installed app (workspace credentials, their pending
    validations, the operator's system credentials), found through the app registry so a new
    one is rotated too and this module needs to know no other app."""
    return [
        EncryptedColumn(model._meta.label, model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, StrictEncryptedTextField)
    ]


def _primary_key_fernet() -> Fernet:
    keys = settings.FIELD_ENCRYPTION_KEY
    first = keys[0] if isinstance(keys, (list, tuple)) else keys
    return Fernet(first)


def _is_current(primary: Fernet, token: str) -> bool:
    try:
        primary.decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


def _raw_tokens(column: EncryptedColumn, *, after, batch_size: int) -> list[tuple[object, str]]:
    """The next batch's (pk, stored token), rows locked; the token as stored, not decrypted.

    Wrapping the column in a TextField expression keeps the field's from_db_value (which
    decrypts) out of the way.
    """
    rows = (
        column.model.objects.select_for_update()
        .exclude(**{f"{column.field}__isnull": True})
        .exclude(**{column.field: ""})
        .annotate(token=ExpressionWrapper(F(column.field), output_field=models.TextField()))
        .order_by("pk")
    )
    if after is not None:
        rows = rows.filter(pk__gt=after)
    return list(rows.values_list("pk", "token")[:batch_size])


def encrypted_secrets_rotate(
    *,
    batch_size: int = 500,
    limit: int | None = None,
    on_table_done: Callable[[RotationCount], None] | None = None,
) -> tuple[list[RotationCount], bool]:
    """Re-encrypt every stored secret that the first key did not encrypt.

    Returns the counts per table and whether the run finished (False when `limit` rotations
    were done first: run again to continue). Raises `SecretUnrecoverable` on a value no key
    decrypts, after rolling back that batch (earlier batches stay rotated).

    Values are written through the field with a queryset `.update()` of the plaintext: the
    field encrypts exactly once, with the first key, and `updated_at` is left alone (rotation is
    not an edit). The rows of a batch are locked while it runs, so a concurrent save is
    neither lost nor overwritten with an older value.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    primary = _primary_key_fernet()
    counts: list[RotationCount] = []
    budget = limit
    for column in encrypted_columns():
        count = RotationCount(column.label)
        counts.append(count)
        after = None
        while True:
            with transaction.atomic():
                batch = _raw_tokens(column, after=after, batch_size=batch_size)
                for pk, token in batch:
                    if _is_current(primary, token):
                        count.current += 1
                        continue
                    if budget is not None and budget <= 0:
                        return counts, False  # leaving the block commits what is done
                    try:
                        plaintext = decrypt(token)
                    except SecretDecryptionError:
                        raise SecretUnrecoverable(table=column.label, pk=pk) from None
                    column.model.objects.filter(pk=pk).update(**{column.field: plaintext})
                    count.rotated += 1
                    if budget is not None:
                        budget -= 1
            if len(batch) < batch_size:
                break
            after = batch[-1][0]
        if on_table_done is not None:
            on_table_done(count)
    return counts, True
