"""`manage.py rotate_encryption_key`: re-encrypt every stored secret with the first key of
FIELD_ENCRYPTION_KEY (the steps: docs/operations.md, "Key rotation and scheduled
re-validation")."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ...rotation import RotationCount, SecretUnrecoverable, encrypted_secrets_rotate


def _line(count: RotationCount) -> str:
    return (
        f"{count.table}: {count.rotated} rotated, {count.current} already current, "
        f"{count.total} total"
    )


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEY, in batches; "
        "safe to run again (values already on that key are skipped)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="rows per transaction (default 500)",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=None,
            help="stop after re-encrypting this many values (run again to continue)",
        )

    def handle(self, *args, batch_size: int, limit: int | None, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if limit is not None and limit < 0:
            raise CommandError("--limit cannot be negative.")
        keys = settings.FIELD_ENCRYPTION_KEY
        if isinstance(keys, str) or len(keys) < 2:
            self.stdout.write(
                "FIELD_ENCRYPTION_KEY holds one key: values are checked, and any the key does not "
                "decrypt are reported. To rotate, put the new key first, then the old one."
            )
        try:
            counts, finished = encrypted_secrets_rotate(
                batch_size=batch_size,
                limit=limit,
                on_table_done=lambda count: self.stdout.write(_line(count)),
            )
        except SecretUnrecoverable as exc:
            raise CommandError(str(exc)) from None
        if not finished:
            self.stdout.write(_line(counts[-1]) + " (stopped here)")
            self.stdout.write(
                self.style.WARNING(
                    f"Stopped after {limit} re-encrypted values (--limit). Run the command again "
                    "to continue where it stopped."
                )
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                "Every stored secret is encrypted with the first key; the other keys can be "
                "removed from FIELD_ENCRYPTION_KEY."
            )
        )
