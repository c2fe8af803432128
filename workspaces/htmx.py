"""How the pages answer HTMX: the typed request every view takes, one template serving a page and
its partials (`render_page`), and the answer to a change (`done`): client events, a toast, and
for a plain form post a flash message and a redirect.

The event names are the page's vocabulary: static/js/app.js listens for `toast` and
`closeModal`, and page sections refresh on `<name>Changed from:body`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import trigger_client_event
from django_htmx.middleware import HtmxDetails

_MESSAGE_LEVELS = {
    "success": messages.SUCCESS,
    "warning": messages.WARNING,
    "danger": messages.ERROR,
}


class HtmxHttpRequest(HttpRequest):
    """The request `HtmxMiddleware` has seen (django-htmx's own typing pattern)."""

    htmx: HtmxDetails


def render_page(
    request: HtmxHttpRequest,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    fragment: str | None = None,
    targets: Collection[str] = (),
    status: int = 200,
) -> HttpResponse:
    """The whole page, or one of its partials when HTMX asks: `fragment` whatever the request
    targets (a dialog's form, say), else the partial named by HX-Target when it is one of
    `targets` (a section refreshing itself)."""
    if request.htmx:
        if fragment is not None:
            template = f"{template}#{fragment}"
        elif request.htmx.target in targets:
            template = f"{template}#{request.htmx.target}"
    return render(request, template, context, status=status)


def toast(response: HttpResponse, message: str, level: str = "success") -> HttpResponse:
    """One client event, `toast`, which static/js/app.js shows as a Bootstrap toast. `level` is
    its colour: success, warning or danger."""
    return trigger_client_event(response, "toast", {"level": level, "message": message})


def done(
    request: HtmxHttpRequest,
    message: str,
    level: str = "success",
    *,
    events: Iterable[str] = (),
    close_modal: bool = False,
    response: HttpResponse | None = None,
    redirect_to: str | None = None,
) -> HttpResponse:
    """The answer once a change is made (or refused): `response` (an empty 204 unless given)
    carrying `events` for the sections to refresh, `closeModal` when asked, then the toast.

    With `redirect_to`, a request without HTMX (a plain form post) gets `message` as a flash
    message and a redirect there instead.
    """
    if redirect_to is not None and not request.htmx:
        messages.add_message(request, _MESSAGE_LEVELS[level], message)
        return redirect(redirect_to)
    if response is None:
        response = HttpResponse(status=204)
    for event in events:
        trigger_client_event(response, event)
    if close_modal:
        trigger_client_event(response, "closeModal")
    return toast(response, message, level)
