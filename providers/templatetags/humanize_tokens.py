"""`{{ n|tokens }}`: a context size as people say it (8K, 128K, 1M)."""

from django import template

register = template.Library()


@register.filter
def tokens(value: int | None) -> str:
    if not value:
        return ""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"
    if value >= 1000:
        return f"{round(value / 1024) if value % 1024 == 0 else round(value / 1000)}K"
    return str(value)
