"""Custom models moved to the credentials app (the scope credentials and pools belong to).

The table keeps its name and rows (credentials declares it with `db_table`, state only). The
content type moves with it, so admin permissions and admin log entries keep pointing at the
same rows. Audit entries name custom models by `object_type="custommodel"`, which does not
change.
"""

from django.db import migrations


def move_content_type(apps, schema_editor, source="providers", destination="credentials"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    old = ContentType.objects.filter(app_label=source, model="custommodel")
    if old.exists():
        # One created for the destination meanwhile (post_migrate) gives way to the old one.
        ContentType.objects.filter(app_label=destination, model="custommodel").delete()
        old.update(app_label=destination)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="credentials", destination="providers")


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0004_modelrefresh_can_time_out"),
        ("credentials", "0003_custommodel"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="CustomModel")],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
