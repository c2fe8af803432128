"""Gateway fixtures: a workspace with an OpenAI credential on the loopback fake, and an API key."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.test.client import ClientHandler

from api_keys.services import api_key_create
from gateway.wsgi import LeanGatewayMixin
from tests.factories import CredentialFactory


@pytest.fixture
def openai_key(workspace, fake_providers):
    """The workspace's default OpenAI credential, answered by the fake OpenAI."""
    return CredentialFactory(
        workspace=workspace,
        name="prod-key",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-1"}),
        config={"base_url": fake_providers.base_url("openai")},
    )


@pytest.fixture
def api_key(workspace, members):
    """A fresh API key of the workspace (its secret), created by the member."""
    return api_key_create(workspace=workspace, name="app", acting_user=members["member"].user)


@pytest.fixture
def bearer(api_key):
    return {"Authorization": f"Bearer {api_key.secret}"}


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
    return GatewayClient()
