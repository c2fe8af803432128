"""Load balancing in the browser: build a pool, turn it on, send prompts, watch the live state."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER = "/settings/model-providers/openai/"
MODEL = "gpt-4o-mini"


def stored_credential(e2e, name: str, key: str, *, default: bool = False, scenario=None):
    """A credential as the add-credential flow leaves it (that flow has its own scenarios)."""
    return CredentialFactory(
        workspace=e2e.workspace,
        name=name,
        is_default=default,
        secret_data=json.dumps({"api_key": key}),
        config={"base_url": e2e.fakes.base_url("openai", scenario)},
        masks={"api_key": f"sk-…{key[-4:]}"},
    )


def run_prompt(page: Page, prompt: str) -> None:
    page.get_by_role("textbox", name="Prompt", exact=True).fill(prompt)
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#playground-state")).to_have_text("Done.")
    expect(page.locator("#playground-answer")).not_to_be_empty()


def test_scenario_pool_built_enabled_used_and_cooling_down(page: Page, e2e, pro_plan, shot):
    from workspaces.config_cache import config_forget_all

    e2e.workspace.plan = pro_plan
    e2e.workspace.save()
    stored_credential(e2e, "Key A", "sk-test-valid-e2e-pool-aaaa", default=True)
    key_b = stored_credential(e2e, "Key B", "sk-test-valid-e2e-pool-bbbb")

    e2e.login(page, "admin")
    page.goto(e2e.url(PROVIDER))
    page.get_by_role("button", name=f"Config {MODEL}", exact=True).click()
    page.get_by_role("link", name="Load balancing").click()
    expect(page.get_by_role("heading", name="Load balancing", level=1)).to_be_visible()
    expect(page.get_by_text("No entries yet")).to_be_visible()
    expect(page.get_by_role("button", name="Turn on")).to_be_disabled()
    shot("empty-pool")

    page.get_by_role("link", name="Add credential").click()
    modal = page.locator("#modal")
    expect(modal.get_by_role("heading", name="Add credential")).to_be_visible()
    modal.get_by_role("radio", name="Key B").check()
    modal.get_by_label("Times to add").fill("2")
    shot("add-entry")
    modal.get_by_role("button", name="Save").click()
    expect(modal).to_be_hidden()

    entries = page.locator("#pool-entries tbody tr")
    expect(entries).to_have_count(3)
    expect(entries.nth(0)).to_contain_text("Default Config")
    expect(entries.nth(0)).to_contain_text("now Key A")
    expect(entries.nth(1)).to_contain_text("Key B")
    expect(entries.nth(2)).to_contain_text("Key B")
    expect(entries.nth(1)).to_contain_text("Key B: 66.7 % over 2 entries")
    shot("three-entries")

    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#pool-header").get_by_text("On", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Turn off")).to_be_visible()
    shot("turned-on")

    page.goto(e2e.url(PROVIDER))
    model_row = page.locator("#model-list tr").filter(has_text=f"openai/{MODEL}")
    expect(model_row.get_by_title("Load balancing on")).to_be_visible()
    shot("icon-on-model-row")

    page.goto(e2e.url("/playground/"))
    page.locator(f'input[type=radio][value="openai/{MODEL}"]').check()
    credentials_used = []
    for number in range(6):
        run_prompt(page, f"Prompt {number}")
        credentials_used.append(page.locator("[data-meta=credential]").inner_text())
    assert sorted(credentials_used) == ["Key A"] * 2 + ["Key B"] * 4, credentials_used
    shot("playground")

    page.goto(e2e.url(f"{PROVIDER}load-balancing/?model={MODEL}&type=llm"))
    live = page.locator("#pool-live tbody tr")
    expect(live).to_have_count(2)
    row_a, row_b = live.filter(has_text="Key A"), live.filter(has_text="Key B")
    expect(row_a).to_contain_text("33.3 % / 33.3 %")
    expect(row_b).to_contain_text("×2")
    expect(row_b).to_contain_text("66.7 % / 66.7 %")
    shot("live-shares")

    # Key B's endpoint now answers 429 with Retry-After: 7; the next call that picks it fails
    # over to Key A, and Key B steps out of the rotation.
    key_b.config = {"base_url": e2e.fakes.base_url("openai", "ratelimited")}
    key_b.save()
    config_forget_all()
    page.goto(e2e.url("/playground/"))
    page.locator(f'input[type=radio][value="openai/{MODEL}"]').check()
    for number in range(3):
        run_prompt(page, f"After the limit {number}")
        expect(page.locator("[data-meta=credential]")).to_have_text("Key A")
    shot("failover")

    page.goto(e2e.url(f"{PROVIDER}load-balancing/?model={MODEL}&type=llm"))
    row_b = page.locator("#pool-live tbody tr").filter(has_text="Key B")
    expect(row_b).to_contain_text(re.compile(r"Cooling down until \d\d:\d\d:\d\d"))
    expect(row_b).to_contain_text("Rate limited")
    row_a = page.locator("#pool-live tbody tr").filter(has_text="Key A")
    expect(row_a).not_to_contain_text(re.compile("cooling down", re.I))
    shot("cooling-down")
