from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0003_usage_source"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="created_by_operator",
            field=models.BooleanField(default=False),
        ),
    ]
