"""The plans a fresh install starts with (the operator edits them in the Django admin)."""

from __future__ import annotations

# slug, name, includes load balancing, position
DEFAULT_PLANS = [
    ("free", "Free", False, 0),
    ("pro", "Pro", True, 10),
    ("enterprise", "Enterprise", True, 20),
]


def ensure_default_plans(plan_model) -> None:
    """Create the default plans that are missing; existing ones are left as the operator set
    them. `plan_model` is `Plan`, or the historical model inside a migration."""
    for slug, name, load_balancing, position in DEFAULT_PLANS:
        plan_model.objects.get_or_create(
            slug=slug,
            defaults={"name": name, "load_balancing": load_balancing, "position": position},
        )
