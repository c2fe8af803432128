"""Usage records move here from the gateway app: the model is declared here, the table
(`gateway_usagerecord`) and its rows stay where they are (state only), and gateway 0006 hands
over the content type."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("gateway", "0005_revoke_keys_of_former_members"),
        ("api_keys", "0001_initial"),
        ("credentials", "0002_pending_add_to_pool"),
        ("workspaces", "0007_auditentry_operator"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="UsageRecord",
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
                        ("model", models.CharField(max_length=200)),
                        ("model_type", models.CharField(max_length=30)),
                        (
                            "credential_name",
                            models.CharField(blank=True, default="", max_length=100),
                        ),
                        ("endpoint", models.CharField(max_length=30)),
                        ("stream", models.BooleanField(default=False)),
                        ("prompt_tokens", models.PositiveIntegerField(default=0)),
                        ("completion_tokens", models.PositiveIntegerField(default=0)),
                        ("latency_ms", models.PositiveIntegerField(default=0)),
                        ("outcome", models.CharField(default="success", max_length=40)),
                        ("source", models.CharField(default="custom", max_length=10)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "api_key",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="api_keys.apikey",
                            ),
                        ),
                        (
                            "credential",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="credentials.credential",
                            ),
                        ),
                        (
                            "user",
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
                        "db_table": "gateway_usagerecord",
                        "ordering": ["-created_at"],
                        "indexes": [
                            models.Index(
                                fields=["workspace", "created_at"],
                                name="gateway_usa_workspa_66d31d_idx",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
