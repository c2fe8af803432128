"""Fixtures of the provisioning tests: the secrets in the environment, the fake OpenAI's
address and a workspace on the paid plan."""

from __future__ import annotations

import pytest

KEY_A = "sk-test-valid-aaaa-0123456789"
KEY_B = "sk-test-valid-bbbb-0123456789"
FT_KEY = "sk-test-valid-ft-0123456789"
SECRETS = {"OPENAI_KEY_A": KEY_A, "OPENAI_KEY_B": KEY_B, "FT_KEY": FT_KEY}


@pytest.fixture
def env(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


@pytest.fixture
def openai_url(fake_providers):
    return fake_providers.base_url("openai")


@pytest.fixture
def pro(workspace, pro_plan):
    workspace.plan = pro_plan
    workspace.save()
    return workspace
