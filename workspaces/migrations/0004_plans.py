from django.db import migrations

PLANS = [
    ("free", "Free", False, 0),
    ("pro", "Pro", True, 10),
    ("enterprise", "Enterprise", True, 20),
]


def create_plans(apps, schema_editor):
    Plan = apps.get_model("workspaces", "Plan")
    for slug, name, load_balancing, position in PLANS:
        Plan.objects.get_or_create(
            slug=slug,
            defaults={"name": name, "load_balancing": load_balancing, "position": position},
        )


class Migration(migrations.Migration):
    dependencies = [("workspaces", "0003_plan_workspace_plan")]

    operations = [migrations.RunPython(create_plans, migrations.RunPython.noop)]
