"""The data migrations of issue 24: every workspace gets Production, and every existing key
belongs to it."""

from __future__ import annotations

from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("workspaces", "0008_environment"), ("api_keys", "0002_apikey_environment")]
AFTER = [("workspaces", "0009_production_environments"), ("api_keys", "0003_keys_in_production")]


def test_existing_workspaces_get_production_with_their_keys_in_it(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    try:
        Workspace = old.get_model("workspaces", "Workspace")
        ApiKey = old.get_model("api_keys", "ApiKey")
        acme = Workspace.objects.create(name="Acme", slug="acme")
        empty = Workspace.objects.create(name="Empty", slug="empty")
        for n in range(2):
            ApiKey.objects.create(
                workspace=acme, name=f"k{n}", prefix=f"mck_{n}", key_hash=f"{n:064d}"
            )

        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps
        Environment = new.get_model("workspaces", "Environment")
        ApiKey = new.get_model("api_keys", "ApiKey")

        production = Environment.objects.get(workspace_id=acme.pk)
        assert (production.name, production.is_default, production.members_create_keys) == (
            "Production",
            True,
            True,
        )
        assert Environment.objects.filter(workspace_id=empty.pk, is_default=True).count() == 1
        assert set(ApiKey.objects.values_list("environment_id", flat=True)) == {production.pk}
    finally:
        call_command("migrate", verbosity=0)  # back to the newest schema for the next tests
