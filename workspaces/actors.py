"""Who acts on a workspace: a person (a `User`, whose workspace role the services check) or
the site operator (`Operator`: the Django admin, a management command, a beat task), who has
no workspace role and is not asked for one. Every service that writes takes either, and the
audit row names which."""

from __future__ import annotations

from dataclasses import dataclass

from .models import User


@dataclass(frozen=True)
class Operator:
    """The site operator, acting through `name` ("manage.py apply_providers", "beat
    revalidation"); in the Django admin, `user` is the staff user who clicked."""

    name: str
    user: User | None = None

    @classmethod
    def staff(cls, user: User) -> Operator:
        """The staff user `user`, acting in the Django admin."""
        return cls(name="Django admin", user=user)

    def __str__(self) -> str:
        who = f"{self.user.email}, " if self.user is not None else ""
        return f"operator: {who}{self.name}"


Actor = User | Operator  # a TypeAlias (Python 3.11 has no `type` statement)


def actor_user(actor: Actor | None) -> User | None:
    """The person behind an action, for `created_by`-style columns (None for a command)."""
    if isinstance(actor, Operator):
        return actor.user
    return actor
