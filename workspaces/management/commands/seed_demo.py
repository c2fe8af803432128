"""`manage.py seed_demo --password PASS`: the demo workspace and its four users, idempotently."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from workspaces.models import Membership, Plan, Role, User, Workspace
from workspaces.plans import ensure_default_plans
from workspaces.services import default_environment

DEMO_SLUG = "demo"
DEMO_USERS = [
    ("owner@demo.test", Role.OWNER),
    ("admin@demo.test", Role.ADMIN),
    ("editor@demo.test", Role.EDITOR),
    ("member@demo.test", Role.MEMBER),
]


class Command(BaseCommand):
    help = "Create (or bring back in line) the demo workspace and its owner/admin/editor/member."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", required=True, help="Password for all four demo users.")
        parser.add_argument(
            "--staff", action="store_true", help="Also let owner@demo.test into the Django admin."
        )

    @transaction.atomic
    def handle(self, *args, password: str, staff: bool, **options) -> None:
        if len(password) < 8:
            raise CommandError("Use a password of at least 8 characters.")
        workspace, created = Workspace.objects.get_or_create(
            slug=DEMO_SLUG, defaults={"name": "Demo"}
        )
        default_environment(workspace)  # Production
        # The demo is on a paid plan so a new user can try load balancing at once.
        ensure_default_plans(Plan)
        paid = Plan.objects.filter(load_balancing=True).order_by("position").first()
        if paid is not None and not workspace.load_balancing_allowed:
            workspace.plan = paid
            workspace.save(update_fields=["plan"])
        # Demote a stray owner first so the one-owner constraint holds at every step.
        Membership.objects.filter(workspace=workspace, role=Role.OWNER).exclude(
            user__email="owner@demo.test"
        ).update(role=Role.ADMIN)
        for email, role in DEMO_USERS:
            user, _ = User.objects.get_or_create(email=email)
            user.set_password(password)
            user.is_active = True
            # The operator's own demo addresses: vouched for, so adding them elsewhere is direct.
            user.email_confirmed_at = user.email_confirmed_at or timezone.now()
            if email == "owner@demo.test" and staff:
                user.is_staff = user.is_superuser = True
            user.save()
            Membership.objects.update_or_create(
                workspace=workspace, user=user, defaults={"role": role}
            )
        verb = "Created" if created else "Updated"
        self.stdout.write(
            f"{verb} workspace '{DEMO_SLUG}' ({workspace.plan_name} plan) with "
            + ", ".join(email for email, _ in DEMO_USERS)
        )
