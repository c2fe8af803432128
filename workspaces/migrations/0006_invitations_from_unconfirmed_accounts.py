"""Existing accounts and invitations under the rule "an address is proven by reading its mail".

Until now the app never sent an email, so no account has proven its address: the invitation
link (shown to the inviter) set the password, and nothing recorded whether an account was made
that way. Every account therefore starts unconfirmed, except superusers, whom the operator
created or promoted. Unconfirmed only means that being added to another workspace sends an
invitation to accept; existing memberships stay.

Accounts that were invited and never chose a password (an unusable password) were placeholders
for a pending invitation: each of their memberships becomes an `Invitation` (not sent: the
members page offers Resend), so that membership grants nothing until the address's reader
accepts. The old links stop working with their URL. An owner membership is left as it is, so
no workspace loses its owner.
"""

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    User = apps.get_model("workspaces", "User")
    Membership = apps.get_model("workspaces", "Membership")
    Invitation = apps.get_model("workspaces", "Invitation")
    User.objects.filter(is_superuser=True, email_confirmed_at__isnull=True).update(
        email_confirmed_at=timezone.now()
    )
    placeholders = Membership.objects.filter(
        user__password__startswith=UNUSABLE_PASSWORD_PREFIX, user__is_superuser=False
    ).exclude(role="owner")
    for membership in placeholders.select_related("user"):
        Invitation.objects.get_or_create(
            workspace_id=membership.workspace_id,
            email=membership.user.email.lower(),
            defaults={"role": membership.role},
        )
        membership.delete()


def backwards(apps, schema_editor):
    """Pending invitations become placeholder memberships again, as the old flow kept them."""
    User = apps.get_model("workspaces", "User")
    Membership = apps.get_model("workspaces", "Membership")
    Invitation = apps.get_model("workspaces", "Invitation")
    for invitation in Invitation.objects.all():
        user = User.objects.filter(email__iexact=invitation.email).first()
        if user is None:
            user = User.objects.create(email=invitation.email, password=UNUSABLE_PASSWORD_PREFIX)
        Membership.objects.get_or_create(
            workspace_id=invitation.workspace_id, user=user, defaults={"role": invitation.role}
        )


class Migration(migrations.Migration):
    dependencies = [("workspaces", "0005_invitations")]

    operations = [migrations.RunPython(forwards, backwards)]
