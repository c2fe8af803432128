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
        # Providers quote round thousands (128000) or powers of two (8192, 16385) alike as "K".
        return f"{value // 1000 if value % 1000 == 0 else round(value / 1024)}K"
    return str(value)
