"""API keys moved to the api_keys app and usage records to the invocation app.

The tables keep their names and rows (the new apps declare them with `db_table`, state only).
The content types move with them, so admin permissions, admin log entries and anything else
that points at a content type keep pointing at the same rows. Audit entries name API keys by
`object_type="api_key"`, which does not change.
"""

from django.db import migrations

MOVED = {"apikey": "api_keys", "usagerecord": "invocation"}


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, app_label in MOVED.items():
        # A content type created for the new app meanwhile (post_migrate) gives way to the old
        # one, which is the one permissions and admin log entries point at.
        if ContentType.objects.filter(app_label="gateway", model=model).exists():
            ContentType.objects.filter(app_label=app_label, model=model).delete()
            ContentType.objects.filter(app_label="gateway", model=model).update(app_label=app_label)


def move_content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, app_label in MOVED.items():
        ContentType.objects.filter(app_label=app_label, model=model).update(app_label="gateway")


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0005_revoke_keys_of_former_members"),
        ("api_keys", "0001_initial"),
        ("invocation", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="UsageRecord"),
                migrations.DeleteModel(name="ApiKey"),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
