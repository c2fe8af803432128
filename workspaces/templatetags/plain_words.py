"""Times as people read them: `{{ when|ago }}` ("just now", "5 minutes ago") and
`{% local_time when "M j, H:i" %}`, an absolute time that names its zone, in a `<time>`
element carrying the exact instant for machines."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(value: datetime | None) -> str:
    """How long ago, in words; under a minute is "just now", never "0 minutes ago"."""
    if not value:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value)} ago"


def zoned(value: datetime, pattern: str) -> str:
    """The time in the site's zone, followed by the zone's name ("14:02:11 UTC")."""
    local = timezone.localtime(value)
    return f"{date_format(local, pattern)} {local.tzname()}"


@register.simple_tag
def local_time(value: datetime | None, pattern: str = "M j, Y, H:i") -> str:
    if not value:
        return "—"
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), zoned(value, pattern))
