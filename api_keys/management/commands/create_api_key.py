"""`manage.py create_api_key --workspace SLUG --name NAME`: prints a new workspace API key."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from workspaces.exceptions import ApplicationError
from workspaces.models import Workspace

from ...services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a workspace and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--name", required=True, help="what will use the key")

    def handle(self, *args, workspace: str, name: str, **options) -> None:
        target = Workspace.objects.filter(slug=workspace).first()
        if target is None:
            raise CommandError(f"No workspace with the slug {workspace!r}.")
        try:
            new = api_key_create(workspace=target, name=name, acting_user=None)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(new.secret)
