"""The WSGI handler that serves /v1/: the same Django, without the session, CSRF, messages,
htmx and workspace middleware the pages need and API-key requests never use (together about
a third of a millisecond per request, on a path whose whole budget is a millisecond or two).

`config/wsgi.py` sends paths under /v1/ here and everything else to Django's usual handler.
Only `GATEWAY_MIDDLEWARE` runs (SecurityMiddleware: HSTS, nosniff, the TLS redirect), the
request_started/finished signals still manage database connections, and unhandled faults still
become OpenAI-shaped JSON in `gateway.views.gateway_view`.
"""

from __future__ import annotations

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.utils.module_loading import import_string

GATEWAY_MIDDLEWARE = ("django.middleware.security.SecurityMiddleware",)
URLCONF = "gateway.root_urls"


class LeanGatewayMixin:
    """Only GATEWAY_MIDDLEWARE, and only the gateway's URLs (also used by the tests' client)."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for dotted_path in reversed(GATEWAY_MIDDLEWARE):
            middleware = import_string(dotted_path)(handler)
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                self._template_response_middleware.append(middleware.process_template_response)
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler

    def get_response(self, request):
        request.urlconf = URLCONF
        response = super().get_response(request)
        if not response.streaming and not response.has_header("Content-Length"):
            # (CommonMiddleware's job on the pages) without it the server must send the body
            # chunked: more writes, and more for the client to parse.
            response.headers["Content-Length"] = str(len(response.content))
        return response


class GatewayHandler(LeanGatewayMixin, WSGIHandler):
    pass


def by_path(*, site, gateway, prefix: str = "/v1/"):
    """One WSGI application: `gateway` for paths under `prefix`, `site` for the rest."""

    def application(environ, start_response):
        if environ.get("PATH_INFO", "").startswith(prefix):
            return gateway(environ, start_response)
        return site(environ, start_response)

    return application
