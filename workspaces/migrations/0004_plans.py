from django.db import migrations

from workspaces.plans import ensure_default_plans


def create_plans(apps, schema_editor):
    ensure_default_plans(apps.get_model("workspaces", "Plan"))


class Migration(migrations.Migration):
    dependencies = [("workspaces", "0003_plan_workspace_plan")]

    operations = [migrations.RunPython(create_plans, migrations.RunPython.noop)]
