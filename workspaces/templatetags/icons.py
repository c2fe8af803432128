"""`{% icon "key" %}`: a Tabler icon inlined as SVG, so it takes the text colour."""

from __future__ import annotations

from functools import cache

from django import template
from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

ICON_DIR = settings.BASE_DIR / "static" / "vendor" / "tabler-icons-3.51.0" / "icons" / "outline"


@cache
def _svg(name: str) -> str:
    path = ICON_DIR / f"{name}.svg"
    if not path.is_file() or "/" in name:
        raise template.TemplateSyntaxError(f"Unknown icon {name!r}: add it under {ICON_DIR}.")
    return " ".join(path.read_text().split())


@register.simple_tag
def icon(name: str, extra_class: str = "", label: str = "") -> SafeString:
    svg = _svg(name)
    classes = f"icon {extra_class}".strip()
    accessibility = f'role="img" aria-label="{escape(label)}"' if label else 'aria-hidden="true"'
    svg = svg.replace('class="icon ', f'{accessibility} class="{escape(classes)} ', 1)
    return mark_safe(svg)  # noqa: S308 - our own vendored files, attributes escaped above


_DOT_BY_STATUS = {
    "active": "status-green",
    "system": "status-green",
    "failing": "status-red",
    "validating": "status-blue status-dot-animated",
    "cooling-down": "status-orange",
    "quota-exceeded": "status-orange",
    "no-default": "status-orange",
}


@register.simple_tag
def status_badge(status: str, label: str) -> SafeString:
    """A status as a coloured dot plus words, never colour alone (rendered in Python: it
    appears on every row of long model lists)."""
    from django.utils.html import format_html

    dot = _DOT_BY_STATUS.get(status, "status-secondary")
    return format_html(
        '<span class="badge bg-transparent text-body border status-badge status-{}">'
        '<span class="status-dot {} me-1"></span>{}</span>',
        status,
        dot,
        label,
    )
