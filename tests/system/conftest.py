"""System-provider fixtures: the operator's OpenAI on the loopback fake, and plan quotas."""

from __future__ import annotations

import json

import pytest

from system.models import PlanQuota
from tests.factories import SystemCredentialFactory, SystemProviderFactory
from workspaces.config_cache import config_forget_all


@pytest.fixture
def free_plan(db):
    from workspaces.models import Plan
    from workspaces.plans import ensure_default_plans

    ensure_default_plans(Plan)  # transactional tests flush the migration's rows
    return Plan.objects.get(slug="free")


@pytest.fixture
def system_openai(db, fake_providers):
    """OpenAI offered by the operator with one working key (the workspace has none)."""
    system = SystemProviderFactory()
    SystemCredentialFactory(
        system_provider=system,
        name="operator-main",
        secret_data=json.dumps({"api_key": "sk-test-valid-operator"}),
        masks={"api_key": "sk-…ator"},
        config={"base_url": fake_providers.base_url("openai")},
    )
    config_forget_all()
    return system


@pytest.fixture
def quota(free_plan):
    """Set the free plan's OpenAI quota: quota(limit, unit="calls", period="monthly")."""

    def make(limit: int, unit: str = "calls", period: str = "monthly") -> PlanQuota:
        row, _ = PlanQuota.objects.update_or_create(
            plan=free_plan,
            provider="openai",
            defaults={"limit": limit, "unit": unit, "period": period},
        )
        config_forget_all()
        return row

    return make


@pytest.fixture
def openai_key(workspace, fake_providers):
    """The workspace's own default OpenAI credential (custom), on the fake."""
    from tests.factories import CredentialFactory

    return CredentialFactory(
        workspace=workspace,
        name="own-key",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-own"}),
        config={"base_url": fake_providers.base_url("openai")},
    )
