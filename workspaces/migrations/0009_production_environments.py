"""Every workspace gets its default environment, "Production" (open to members' keys)."""

from django.db import migrations


def add_production(apps, schema_editor):
    Workspace = apps.get_model("workspaces", "Workspace")
    Environment = apps.get_model("workspaces", "Environment")
    have = set(Environment.objects.filter(is_default=True).values_list("workspace_id", flat=True))
    Environment.objects.bulk_create(
        Environment(workspace_id=pk, name="Production", is_default=True, members_create_keys=True)
        for pk in Workspace.objects.exclude(pk__in=have).values_list("pk", flat=True)
    )


class Migration(migrations.Migration):
    dependencies = [("workspaces", "0008_environment")]

    operations = [migrations.RunPython(add_production, migrations.RunPython.noop)]
