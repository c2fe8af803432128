"""Environment isolation in the browser, the scenario of docs/environments.md: an admin adds a
Development environment, pins the rate-limited key in it, creates a Development API key,
calls a model with it and with a Production key, and sees the usage split by environment.

With SCREENSHOTS_UPDATE=1 (`make screenshots`) the Environments page, as the scenario leaves
it, is written to docs/screenshots/environments.png for the docs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from api_keys.services import api_key_create
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db(transaction=True)

DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "environments.png"


def stored_credential(e2e, name: str, key: str, *, default: bool = False):
    """A credential as the add-credential flow leaves it (that flow has its own scenarios)."""
    return CredentialFactory(
        workspace=e2e.workspace,
        name=name,
        is_default=default,
        secret_data=json.dumps({"api_key": key}),
        config={"base_url": e2e.fakes.base_url("openai")},
        masks={"api_key": f"sk-…{key[-4:]}"},
    )


def chat(e2e, key: str, text: str) -> httpx.Response:
    return httpx.post(
        e2e.url("/v1/chat/completions"),
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        timeout=10,
    )


def upstream_keys(e2e) -> dict[str, str]:
    """{the prompt: the Authorization header the fake OpenAI received with it}."""
    seen = {}
    for request in e2e.fakes.requests_to("/openai/"):
        if request.path.endswith("/chat/completions"):
            prompt = json.loads(request.body)["messages"][-1]["content"]
            seen[prompt] = request.headers["authorization"]
    return seen


def test_scenario_development_uses_the_rate_limited_key_beside_production(page: Page, e2e, shot):
    stored_credential(e2e, "Paid key", "sk-test-valid-paid-0001", default=True)
    stored_credential(e2e, "Rate-limited key", "sk-test-valid-limited-0002")
    admin = e2e.members["admin"].user
    production_key = api_key_create(workspace=e2e.workspace, name="web", acting_user=admin)

    e2e.login(page, "admin")
    page.goto(e2e.url("/settings/environments/"))
    expect(page.get_by_role("heading", name="Environments", level=1)).to_be_visible()
    expect(page.get_by_text("Shared by all environments")).to_be_visible()

    # 1. Add Development.
    page.get_by_role("link", name="Add environment").click()
    modal = page.locator("#modal")
    modal.get_by_label("Name").fill("Development")
    shot("add-environment")
    modal.get_by_role("button", name="Save").click()
    expect(modal).to_be_hidden()
    environments = page.locator("#environment-table")
    expect(environments.get_by_text("Development", exact=True)).to_be_visible()

    # 2. Pin the rate-limited key for OpenAI in Development; Production keeps the default.
    pin = page.get_by_label("Credential of Development for OpenAI")
    pin.select_option(label="Rate-limited key")
    table = page.locator("#pin-table")
    openai_row = table.locator("tbody tr").filter(has_text="Predefined models").first
    expect(openai_row.locator("td").nth(2)).to_contain_text("Pinned Rate-limited key")
    expect(openai_row.locator("td").nth(1)).to_contain_text("Default Paid key")
    shot("pinned")
    if os.environ.get("SCREENSHOTS_UPDATE"):
        for close in page.locator("#toasts .btn-close").all():  # the page, not its toasts
            close.click()
        expect(page.locator("#toasts .toast.show")).to_have_count(0)
        page.screenshot(path=str(DOCS_SHOT), full_page=True)

    # 3. A Development API key.
    page.goto(e2e.url("/settings/api-keys/"))
    page.get_by_role("link", name="Create API key").click()
    modal.get_by_label("Name").fill("dev-app")
    modal.get_by_label("Environment").select_option(label="Development")
    modal.get_by_role("button", name="Save").click()
    secret = modal.locator("#new-api-key").input_value()
    assert secret.startswith("mck_")
    shot("key-created")
    page.keyboard.press("Escape")
    keys = page.locator("table tbody tr")
    expect(keys.filter(has_text="dev-app")).to_contain_text("Development")
    expect(keys.filter(has_text="web")).to_contain_text("Production")

    # 4. Call the same model with each key: each reaches OpenAI with its own credential.
    assert chat(e2e, secret, "from development").status_code == 200
    assert chat(e2e, production_key.secret, "from production").status_code == 200
    seen = upstream_keys(e2e)
    assert seen["from development"] == "Bearer sk-test-valid-limited-0002"
    assert seen["from production"] == "Bearer sk-test-valid-paid-0001"

    # 5. Usage, split by environment.
    page.goto(e2e.url("/settings/usage/"))
    page.get_by_label("Group by").select_option(label="Environment")
    expect(page.locator("#usage-content")).to_contain_text("By environment")
    rows = page.locator("#usage-content table tbody tr")
    expect(rows.filter(has_text="Development")).to_have_count(1)
    expect(rows.filter(has_text="Production")).to_have_count(1)
    page.get_by_label("Environment").select_option(label="Development")
    expect(page.locator("#usage-content")).to_contain_text("in Development")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Development")
    shot("usage")
