"""Revoke the API keys of people who left their workspace before leaving revoked them.

- A key whose creator is still a member of the key's workspace is left alone.
- A key whose creator is no longer a member is revoked, with an audit entry.
- A key with no creator (`created_by` NULL) is told apart by its `api_key.create` audit entry:
  written with no actor and no actor email, it came from `manage.py create_api_key` and is
  marked `created_by_operator` (it keeps working); written by a person who was deleted since
  (their email is kept on the entry), or with no entry to tell, it is revoked.
"""

from django.db import migrations
from django.utils import timezone


def revoke_keys_of_former_members(apps, schema_editor):
    ApiKey = apps.get_model("gateway", "ApiKey")
    Membership = apps.get_model("workspaces", "Membership")
    AuditEntry = apps.get_model("workspaces", "AuditEntry")
    now = timezone.now()
    for key in ApiKey.objects.filter(revoked_at__isnull=True).iterator():
        if key.created_by_id is None:
            created = AuditEntry.objects.filter(
                workspace_id=key.workspace_id, action="api_key.create", object_id=str(key.pk)
            ).first()
            if created is not None and created.actor_id is None and not created.actor_email:
                ApiKey.objects.filter(pk=key.pk).update(created_by_operator=True)
                continue
        elif Membership.objects.filter(
            workspace_id=key.workspace_id, user_id=key.created_by_id
        ).exists():
            continue
        ApiKey.objects.filter(pk=key.pk).update(revoked_at=now)
        AuditEntry.objects.create(
            workspace_id=key.workspace_id,
            action="api_key.revoke",
            object_type="api_key",
            object_id=str(key.pk),
            object_repr=f"{key.name} ({key.prefix}…)"[:300],
            details={"reason": "membership ended", "via": "migration"},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0004_apikey_created_by_operator"),
        ("workspaces", "0004_plans"),
    ]

    operations = [
        migrations.RunPython(revoke_keys_of_former_members, migrations.RunPython.noop),
    ]
