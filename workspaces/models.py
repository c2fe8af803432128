"""Users (email login), workspaces and memberships with their roles."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .audit_words import audit_reason, audit_sentence


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        # The operator types their own address at `createsuperuser`: they vouch for it.
        extra.setdefault("email_confirmed_at", timezone.now())
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address and a password."""

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Can log into the Django admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    email_confirmed_at = models.DateTimeField(
        "email confirmed",
        null=True,
        blank=True,
        help_text="When the person proved they read this address's mail (by accepting an "
        "invitation sent there). Until then, adding them to a workspace sends an invitation.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email

    @property
    def email_confirmed(self) -> bool:
        return self.email_confirmed_at is not None


class Role(models.TextChoices):
    """Per-workspace roles, most powerful first (DESIGN.md section 2)."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    MEMBER = "member", "Member"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= Role(other).rank

    @property
    def manages_workspace(self) -> bool:
        """Owners and admins change credentials, models, pools, defaults and members."""
        return self.at_least(Role.ADMIN)


_ROLE_RANK = {Role.OWNER: 4, Role.ADMIN: 3, Role.EDITOR: 2, Role.MEMBER: 1}


class Plan(models.Model):
    """What a workspace is entitled to; the site operator sets it in the Django admin.

    A workspace without a plan is on the free plan. Load balancing is a paid-plan feature
    (DESIGN.md section 7) unless `LOAD_BALANCING_ALL_PLANS` turns it on everywhere.
    """

    FREE = "free"

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=60)
    load_balancing = models.BooleanField(
        "includes load balancing",
        default=False,
        help_text="Workspaces on this plan may pool credentials per model.",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Workspace(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    plan = models.ForeignKey(
        Plan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="workspaces",
        help_text="Empty means the free plan.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(User, through="Membership", related_name="workspaces")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def plan_name(self) -> str:
        return self.plan.name if self.plan_id else "Free"

    @property
    def load_balancing_allowed(self) -> bool:
        """Whether the plan (or the site-wide setting) lets this workspace balance load."""
        if settings.LOAD_BALANCING_ALL_PLANS:
            return True
        return bool(self.plan_id and self.plan.load_balancing)

    @property
    def load_balancing_blocked_reason(self) -> str:
        """Why load balancing is unavailable, in words for the page; empty when it is."""
        if self.load_balancing_allowed:
            return ""
        return (
            f"Load balancing is a paid-plan feature and this workspace is on the "
            f"{self.plan_name} plan. Ask the site operator to move it to a paid plan."
        )


class Environment(models.Model):
    """A named environment of a workspace ("Production", "Development", "Staging").

    An environment may pin, per provider or model, which credential or pool serves its calls
    (balancing.models.Pin, Pool.environment); whatever it does not pin follows the workspace's
    defaults. Every API key belongs to one environment. The default environment ("Production"
    when the workspace is made) is where new keys go and cannot be deleted; renaming it changes
    nothing else. Not to be confused with the deployment mode (settings.DEPLOYMENT).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=60)
    is_default = models.BooleanField(default=False)
    # Whether members (and editors) may create API keys in it; owners and admins always may.
    members_create_keys = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="environment_unique_name"),
            models.UniqueConstraint(
                fields=["workspace"], condition=Q(is_default=True), name="environment_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user"),
            # At most one owner per workspace, enforced by the database; services keep it at
            # exactly one (ownership moves in one transaction, the owner cannot leave).
            models.UniqueConstraint(
                fields=["workspace"], condition=Q(role="owner"), name="membership_one_owner"
            ),
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in Role]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


def new_link_version() -> str:
    return secrets.token_hex(8)


class Invitation(models.Model):
    """A pending membership: an address invited to a workspace with a role, by email.

    It grants nothing (it is not a `Membership`, so no access check, selector or API key sees
    it). Whoever reads the address's mail accepts it through the link, which creates the
    membership and deletes the invitation. `link_version` is signed into the link: resending
    changes it, so only the newest link works, and a cancelled invitation's link finds nothing.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the newest link was emailed; empty: never sent."
    )
    link_version = models.CharField(max_length=32, default=new_link_version, editable=False)

    class Meta:
        ordering = ["workspace", "email"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "email"], name="invitation_unique_email"),
            models.CheckConstraint(
                condition=Q(role__in=[Role.ADMIN, Role.EDITOR, Role.MEMBER]),
                name="invitation_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace} ({self.role})"


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class AuditEntry(models.Model):
    """Who changed what, when, with which outcome; never a secret (DESIGN.md section 5)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.CharField(max_length=254, blank=True, default="")
    # Set when the site operator acted (the Django admin, a command, a beat task): how.
    operator = models.CharField(max_length=100, blank=True, default="")
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    object_repr = models.CharField(max_length=300, blank=True, default="")
    outcome = models.CharField(
        max_length=10, choices=AuditOutcome.choices, default=AuditOutcome.SUCCESS
    )
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.object_repr} ({self.outcome})"

    @property
    def actor_label(self) -> str:
        """Who, as the audit log shows it: a person, the operator (and how), or "system"
        for rows written before the operator was recorded."""
        if self.operator:
            who = f"{self.actor_email}, " if self.actor_email else ""
            return f"operator: {who}{self.operator}"
        return self.actor_email or "system"

    @property
    def sentence(self) -> str:
        """What happened, in words ("Added key-b to the gpt-4o pool")."""
        return audit_sentence(
            action=self.action, object_repr=self.object_repr, details=self.details
        )

    @property
    def reason(self) -> str:
        """Why it failed, in words ("Authentication failed"), or ""."""
        return audit_reason(details=self.details)
