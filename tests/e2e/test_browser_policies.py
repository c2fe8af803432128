"""The Content-Security-Policy in the browser: every page of the console and of the Django
admin loads, and works, under the enforcing policy with no violation (the `page` fixture
records them on every page of every browser test)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import csp_violations
from tests.factories import PlanQuotaFactory, SystemCredentialFactory

pytestmark = pytest.mark.django_db(transaction=True)

CONSOLE_PAGES = [
    ("/settings/model-providers/", "Model providers"),
    ("/settings/model-providers/openai/", "OpenAI"),
    ("/settings/default-models/", "Default models"),
    ("/settings/members/", "Members"),
    ("/settings/api-keys/", "API keys"),
    ("/settings/usage/", "Usage"),
    ("/playground/", "Playground"),
    ("/settings/audit-log/", "Audit log"),
    ("/settings/workspace/", "Workspace"),
]


def goto_enforced(page: Page, url: str) -> None:
    """Opens a page and checks the browser got it under the enforcing policy."""
    response = page.goto(url)
    assert response.status == 200, url
    assert "default-src 'self'" in response.headers.get("content-security-policy", ""), url


@pytest.fixture
def quota_bars(e2e, fake_providers):
    """OpenAI offered by the operator within a quota, so provider pages draw the quota bar."""
    SystemCredentialFactory(
        secret_data=json.dumps({"api_key": "sk-test-valid-operator"}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    PlanQuotaFactory()


def test_the_console_runs_under_its_policy_without_violations(page: Page, e2e, quota_bars, shot):
    goto_enforced(page, e2e.url("/login/"))
    e2e.login(page, "owner")
    for path, heading in CONSOLE_PAGES:
        goto_enforced(page, e2e.url(path))
        expect(page.get_by_role("heading", name=heading).first).to_be_visible()
        shot(path)
    page.goto(e2e.url("/settings/model-providers/openai/"))
    expect(page.get_by_role("progressbar").first).to_be_visible()  # the quota bar is drawn
    # A modal loaded by htmx (a fragment, the indicator, the focus handling) is covered too.
    page.get_by_role("link", name="Add credential").first.click()
    expect(page.locator("#modal").get_by_role("heading", name="Add credential")).to_be_visible()
    shot("modal")
    assert csp_violations(page) == []


def test_the_django_admin_runs_under_the_policy_without_violations(page: Page, e2e, shot):
    owner = e2e.members["owner"]
    owner.user.is_staff = owner.user.is_superuser = True
    owner.user.save()
    e2e.login(page, "owner")
    for path in (
        "/admin/",
        "/admin/workspaces/membership/",
        f"/admin/workspaces/membership/{owner.pk}/change/",
        "/admin/workspaces/user/add/",
        "/admin/workspaces/workspace/",
        "/admin/system/systemprovider/add/",
    ):
        goto_enforced(page, e2e.url(path))
        expect(page.locator("#content")).to_be_visible()
        shot(path)
    page.goto(e2e.url("/admin/workspaces/membership/"))
    page.locator("#action-toggle").check()  # the changelist's own script runs
    expect(page.locator(".action-counter")).to_contain_text("selected")
    assert csp_violations(page) == []
