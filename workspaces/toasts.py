"""The toast a page raises after an HTMX request: one client event ("toast"), which
static/js/app.js turns into a Bootstrap toast."""

from __future__ import annotations

from django.http import HttpResponse
from django_htmx.http import trigger_client_event


def toast(response: HttpResponse, message: str, level: str = "success") -> HttpResponse:
    """`level` is a Bootstrap colour: success, warning or danger."""
    return trigger_client_event(response, "toast", {"level": level, "message": message})
