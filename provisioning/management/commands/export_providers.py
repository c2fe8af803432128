"""`manage.py export_providers --workspace SLUG [--output FILE]`: a workspace's provider
configuration in the format `apply_providers` reads, secrets as `${NAME}` references."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from workspaces.models import Workspace

from ...exporter import provisioning_export


class Command(BaseCommand):
    help = (
        "Write a workspace's providers (credentials, custom models, defaults, pools) and "
        "environments as YAML "
        "for apply_providers. No secret is written: each is a ${NAME} to set in the environment."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--output", help="write to this file instead of standard output")

    def handle(self, *args, workspace: str, output: str | None, **options) -> None:
        target = Workspace.objects.filter(slug=workspace).first()
        if target is None:
            raise CommandError(f"No workspace with the slug {workspace!r}.")
        text = provisioning_export(workspace=target)
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{output}: cannot be written ({exc})") from None
        self.stderr.write(f"Wrote {output}.")
