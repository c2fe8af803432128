"""`manage.py apply_providers FILE.yaml [--dry-run] [--prune] [--allow-inline-secrets]`: makes
a workspace's provider configuration match a file, all or nothing (`provisioning/`).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from workspaces.exceptions import ApplicationError

from ...parser import provisioning_file_parse
from ...planner import (
    CREATE,
    DELETE,
    UNCHANGED,
    UPDATE,
    provisioning_apply,
    provisioning_plan,
    provisioning_workspace,
)


class Command(BaseCommand):
    help = (
        "Apply a YAML file describing a workspace's providers: credentials (secrets from "
        "${ENV_VARS}), custom models, defaults and load-balancing pools, and its environments "
        "with their pins and pools. Prints the plan, "
        "validates new or changed credentials with their providers, then writes everything in "
        "one transaction, or nothing. See docs/provisioning.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the YAML file, or - for standard input")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check the file and print the plan; call no provider and write nothing",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="also delete the workspace's credentials, custom models and pools the file "
            "does not list; with `environments:` in the file, also its environments (revoking "
            "their API keys), pins and environment pools",
        )
        parser.add_argument(
            "--allow-inline-secrets",
            action="store_true",
            help="accept secret values written in the file itself (for throwaway setups)",
        )

    def handle(self, *args, file: str, dry_run: bool, prune: bool, **options) -> None:
        text = self.read(file)
        try:
            spec = provisioning_file_parse(
                text, environ=os.environ, allow_inline_secrets=options["allow_inline_secrets"]
            )
            workspace = provisioning_workspace(spec)
            plan = provisioning_plan(workspace=workspace, spec=spec, prune=prune)
            for step in plan:
                self.stdout.write(str(step))
            counts = Counter(step.action for step in plan)
            if dry_run:
                self.stdout.write(
                    f"Dry run: {_summary(counts, future=True)}. Nothing was written and no "
                    "provider was called."
                )
                return
            if set(counts) <= {UNCHANGED}:
                self.stdout.write("Nothing to change.")
                return
            provisioning_apply(
                workspace=workspace, spec=spec, plan=plan, prune=prune, report=self.stdout.write
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Applied: {_summary(counts, future=False)}.")

    @staticmethod
    def read(file: str) -> str:
        if file == "-":
            return sys.stdin.read()
        try:
            return Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot be read ({exc})") from None


def _summary(counts: Counter, *, future: bool) -> str:
    words = (
        (CREATE, "to create", "created"),
        (UPDATE, "to update", "updated"),
        (DELETE, "to delete", "deleted"),
        (UNCHANGED, "unchanged", "unchanged"),
    )
    return ", ".join(
        f"{counts[action]} {later if future else done}" for action, later, done in words
    )
