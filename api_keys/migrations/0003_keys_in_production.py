"""Every existing key belongs to its workspace's default environment (Production)."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def keys_to_production(apps, schema_editor):
    ApiKey = apps.get_model("api_keys", "ApiKey")
    Environment = apps.get_model("workspaces", "Environment")
    default = Environment.objects.filter(workspace_id=OuterRef("workspace_id"), is_default=True)
    ApiKey.objects.filter(environment__isnull=True).update(
        environment=Subquery(default.values("pk")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("api_keys", "0002_apikey_environment"),
        ("workspaces", "0009_production_environments"),
    ]

    operations = [migrations.RunPython(keys_to_production, migrations.RunPython.noop)]
