"""Gateway fixtures: a workspace with an OpenAI credential on the loopback fake, and an API key."""

from __future__ import annotations

import json

import pytest

from gateway.services import api_key_create
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
