"""`manage.py create_api_key --workspace SLUG --name NAME [--environment NAME]`: prints a new
workspace API key, of the workspace's default environment unless another is named."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from workspaces.exceptions import ApplicationError
from workspaces.models import Environment, Workspace

from ...services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a workspace and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--name", required=True, help="what will use the key")
        parser.add_argument(
            "--environment",
            default="",
            help="the environment's name (default: the workspace's default, e.g. Production)",
        )

    def handle(self, *args, workspace: str, name: str, environment: str, **options) -> None:
        target = Workspace.objects.filter(slug=workspace).first()
        if target is None:
            raise CommandError(f"No workspace with the slug {workspace!r}.")
        chosen = None
        if environment.strip():
            chosen = Environment.objects.filter(
                workspace=target, name__iexact=" ".join(environment.split())
            ).first()
            if chosen is None:
                names = ", ".join(
                    Environment.objects.filter(workspace=target).values_list("name", flat=True)
                )
                raise CommandError(
                    f"No environment named {environment!r} in {target.slug}"
                    + (f" (it has: {names})." if names else ".")
                )
        try:
            new = api_key_create(workspace=target, name=name, acting_user=None, environment=chosen)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(new.secret)
