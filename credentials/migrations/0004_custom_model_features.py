"""Custom models get `features` (issue 21), so the gateway checks a chat against a custom
model's features as it does against a predefined model's catalog entry.

Until now a custom model had no features and only the provider's limits were checked: tools,
images, a JSON schema, a stream or `reasoning_effort` all reached the provider. The rows that
exist get every feature such a chat can be checked against (vision, tool-call, json-mode,
structured-output, streaming, reasoning) when they are chat models (`llm`), so nothing an
application sent yesterday is refused after the upgrade: tools on an Ollama or
OpenAI-compatible custom model still reach it, and a model that cannot honour one answers with
its provider's own error, as it did before. Nothing is dropped silently either way. Audio and
document are left out: no chat field asks for them. Other types (embeddings, rerank, speech)
have no chat to check, so they get none. An owner narrows the list on the model's page (or in
YAML); Refresh models fills it where the provider reports what a model can do.

The list is written out here, not imported: a migration keeps the value of its day.
"""

from django.db import migrations, models

LLM_FEATURES = ["vision", "tool-call", "json-mode", "structured-output", "streaming", "reasoning"]


def existing_models_keep_working(apps, schema_editor):
    CustomModel = apps.get_model("credentials", "CustomModel")
    CustomModel.objects.filter(type="llm").update(features=LLM_FEATURES)


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0003_custommodel"),
    ]

    operations = [
        migrations.AddField(
            model_name="custommodel",
            name="features",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="pendingvalidation",
            name="model_features",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(existing_models_keep_working, migrations.RunPython.noop),
    ]
