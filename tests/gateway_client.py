"""Django's test client as production serves /v1/: through the gateway's lean WSGI handler."""

from __future__ import annotations

import pytest
from django.test import Client
from django.test.client import ClientHandler

from gateway.wsgi import LeanGatewayMixin


class _GatewayClientHandler(LeanGatewayMixin, ClientHandler):
    pass


class GatewayClient(Client):
    """Django's test client, sending /v1/ through the gateway's lean handler as production's
    `config.wsgi` does (other paths through the full stack)."""

    def __init__(self, **defaults):
        super().__init__(**defaults)
        self._gateway_handler = _GatewayClientHandler(enforce_csrf_checks=False)

    def request(self, **request):
        site_handler = self.handler
        if request.get("PATH_INFO", "").startswith("/v1/"):
            self.handler = self._gateway_handler
        try:
            return super().request(**request)
        finally:
            self.handler = site_handler


@pytest.fixture
def client():
    """Replaces pytest-django's `client` in the conftests that import it."""
    return GatewayClient()
