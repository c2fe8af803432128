"""Custom models move here from the providers app: they are the scope credentials and pools
belong to, and credentials sit below the model settings. The model is declared here, the table
(`providers_custommodel`) and its rows stay (state only); providers 0005 hands over the content
type."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0004_modelrefresh_can_time_out"),
        ("credentials", "0002_pending_add_to_pool"),
        ("workspaces", "0007_auditentry_operator"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="CustomModel",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("provider", models.CharField(max_length=50)),
                        ("name", models.CharField(max_length=200)),
                        ("type", models.CharField(max_length=30)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "workspace",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="workspaces.workspace",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "providers_custommodel",
                        "ordering": ["provider", "name", "type"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("workspace", "provider", "name", "type"),
                                name="custom_model_unique",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
