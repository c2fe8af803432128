"""Credentials in the browser: add (a wrong key first), default, delete; custom models."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER = "/settings/model-providers/openai/"
COMPATIBLE = "/settings/model-providers/openai_compatible/"
FINE_TUNE = "ft:gpt-4o-mini-2024-07-18:acme::9xQvR2Lp"  # one the fake's /v1/models lists


def add_credential(page: Page, e2e, name: str, key: str, *, opener=None) -> None:
    """Opens Add credential, fills the form and saves (the outcome is the caller's to check)."""
    (opener or page.get_by_role("link", name="Add credential").first).click()
    modal = page.locator("#modal")
    expect(modal.get_by_role("heading", name="Add credential")).to_be_visible()
    modal.get_by_label("Name", exact=True).fill(name)
    modal.get_by_label("API Key", exact=True).fill(key)
    modal.get_by_label("API Base URL", exact=True).fill(e2e.fakes.base_url("openai"))
    modal.get_by_role("button", name="Save").click()


def credential_row(page: Page, name: str):
    return page.locator("#credential-list tbody tr").filter(has_text=name)


def test_scenario_wrong_key_then_fixed(page: Page, e2e, shot):
    e2e.login(page, "admin")
    page.goto(e2e.url(PROVIDER))
    expect(page.get_by_text("No credentials yet")).to_be_visible()
    shot("empty")

    add_credential(page, e2e, "Team key", "invalid")
    modal = page.locator("#modal")
    alert = modal.get_by_role("alert")
    expect(alert).to_contain_text("Authentication failed")
    expect(alert).to_contain_text("Nothing was saved.")
    hint = alert.locator(".text-secondary").first
    expect(hint).not_to_be_empty()
    shot("wrong-key")

    modal.get_by_label("API Key", exact=True).fill("sk-test-valid-e2e-000001")
    modal.get_by_role("button", name="Save").click()
    # The modal closes by itself and a toast says what happened.
    toast = page.locator("#toasts").get_by_text("Team key validated and saved. It is the default.")
    expect(toast).to_be_visible()
    expect(modal).to_be_hidden()
    shot("validated")

    row = credential_row(page, "Team key")
    expect(row).to_be_visible()
    expect(row.get_by_text("Default", exact=True)).to_be_visible()
    expect(row.get_by_text("Active", exact=True)).to_be_visible()
    expect(page.locator("#credential-list")).not_to_contain_text("sk-test-valid-e2e-000001")
    shot("listed")


def test_scenario_a_slow_check_keeps_the_dialog_until_its_answer(page: Page, e2e, shot):
    """The provider takes 1.5 s: the dialog shows the check in progress through several polls
    (each answered "not yet") and closes only with the outcome."""
    e2e.fakes.hang_seconds = 1.5
    e2e.login(page, "admin")
    page.goto(e2e.url(PROVIDER))
    add_credential(page, e2e, "Slow key", "sk-test-hang-e2e-000001")
    modal = page.locator("#modal")
    expect(modal.get_by_role("heading", name="Validating Slow key")).to_be_visible()
    shot("validating")
    toast = page.locator("#toasts").get_by_text("Slow key validated and saved. It is the default.")
    expect(toast).to_be_visible()
    expect(modal).to_be_hidden()
    expect(credential_row(page, "Slow key")).to_be_visible()
    assert len(e2e.fakes.requests) == 1, "the key was checked once"


def add_valid_credential(page: Page, e2e, name: str, key: str) -> None:
    add_credential(page, e2e, name, key)
    modal = page.locator("#modal")
    expect(page.locator("#toasts").get_by_text(f"{name} validated and saved.")).to_be_visible()
    expect(modal).to_be_hidden()
    expect(credential_row(page, name)).to_be_visible()


def delete_credential(page: Page, name: str, warning: str | None = None) -> None:
    credential_row(page, name).get_by_role("link", name=f"Delete {name}").click()
    modal = page.locator("#modal")
    expect(modal.get_by_role("heading", name=f"Delete {name}?")).to_be_visible()
    if warning:
        expect(modal.get_by_role("alert")).to_contain_text(warning)
    modal.get_by_role("button", name="Delete").click()
    expect(credential_row(page, name)).to_have_count(0)


def test_scenario_select_default_and_delete(page: Page, e2e, shot):
    e2e.login(page, "admin")
    page.goto(e2e.url(PROVIDER))
    for number, name in enumerate(["First key", "Second key", "Third key"], start=1):
        add_valid_credential(page, e2e, name, f"sk-test-valid-e2e-00000{number}")
    expect(credential_row(page, "First key").get_by_text("Default", exact=True)).to_be_visible()
    expect(credential_row(page, "Second key").get_by_text("Default", exact=True)).to_have_count(0)
    shot("three-keys")

    credential_row(page, "Second key").get_by_role("button", name="Select as default").click()
    expect(credential_row(page, "Second key").get_by_text("Default", exact=True)).to_be_visible()
    expect(credential_row(page, "First key").get_by_text("Default", exact=True)).to_have_count(0)
    expect(
        credential_row(page, "First key").get_by_role("button", name="Select as default")
    ).to_be_visible()
    shot("second-is-default")

    delete_credential(page, "First key")
    expect(page.get_by_text("No default credential")).to_have_count(0)
    shot("first-deleted")

    delete_credential(page, "Second key", warning="OpenAI will have no default")
    alert = page.locator("#credential-list").get_by_role("alert")
    expect(alert).to_contain_text("No default credential.")
    expect(credential_row(page, "Third key").get_by_text("Default", exact=True)).to_have_count(0)
    expect(page.locator("#provider-status")).not_to_be_empty()
    shot("no-default")


def custom_model_row(page: Page, name: str):
    return page.locator("#custom-models tbody tr").filter(has_text=name)


def test_scenario_custom_model_removed_and_readded(page: Page, e2e, shot):
    e2e.login(page, "admin")
    page.goto(e2e.url(PROVIDER))
    page.get_by_role("link", name="Add Model").click()
    modal = page.locator("#modal")
    expect(modal.get_by_role("heading", name="Add Model")).to_be_visible()
    model = modal.get_by_role("group", name="Model")
    credential = modal.get_by_role("group", name="Credential")
    # A fine-tune name with a typo is refused: OpenAI does not know it.
    model.get_by_label("Model name").fill(FINE_TUNE[:-1] + "q")
    model.get_by_label("Model type").select_option("llm")
    expect(credential.get_by_label("Credential", exact=True)).to_have_value("")
    credential.get_by_label("Credential name").fill("Fine-tune key")
    credential.get_by_label("API Key", exact=True).fill("sk-test-valid-e2e-custom01")
    credential.get_by_label("API Base URL", exact=True).fill(e2e.fakes.base_url("openai"))
    modal.get_by_role("button", name="Save").click()
    expect(modal.get_by_role("alert")).to_contain_text("Model not available")
    shot("typo-refused")
    modal.get_by_label("Model name").fill(FINE_TUNE)
    modal.get_by_role("button", name="Save").click()
    expect(
        page.locator("#toasts").get_by_text("Fine-tune key validated and saved.")
    ).to_be_visible()
    expect(modal).to_be_hidden()
    row = custom_model_row(page, FINE_TUNE)
    expect(row).to_be_visible()
    expect(row).to_contain_text("Fine-tune key")
    shot("custom-model-added")

    row.get_by_role("link", name=f"Remove {FINE_TUNE}").click()
    expect(modal.get_by_role("heading", name=f"Remove {FINE_TUNE}?")).to_be_visible()
    modal.get_by_role("button", name="Remove").click()
    expect(custom_model_row(page, FINE_TUNE)).to_have_count(0)
    expect(page.locator("#custom-models")).to_contain_text("1 removed model still has credentials")
    shot("custom-model-removed")

    page.get_by_role("link", name="Add Model").click()
    removed = modal.locator("form").filter(has_text=FINE_TUNE).first
    expect(modal.get_by_role("heading", name="Removed models")).to_be_visible()
    expect(removed.get_by_label(f"Credential for {FINE_TUNE}")).to_contain_text("Fine-tune key")
    shot("readd-offered")
    removed.get_by_role("button", name="Add Model").click()
    expect(modal).to_be_hidden()
    row = custom_model_row(page, FINE_TUNE)
    expect(row).to_be_visible()
    expect(row).to_contain_text("Fine-tune key")
    shot("custom-model-readded")


def test_scenario_custom_only_provider_adds_a_model_with_its_credential(page: Page, e2e, shot):
    """OpenAI-compatible has no predefined models: its page leads with Add Model, and a
    model added with the provider's credential is listed and usable."""
    e2e.login(page, "admin")
    page.goto(e2e.url(COMPATIBLE))
    expect(page.get_by_text("No models yet")).to_be_visible()
    primary = page.locator("#credential-list .btn-primary")
    expect(primary).to_have_text("Add Model")
    shot("empty")

    # A provider-wide credential first (Add credential is still offered, as a secondary button).
    page.locator("#credential-list").get_by_role("link", name="Add credential").click()
    modal = page.locator("#modal")
    modal.get_by_label("Name", exact=True).fill("Server key")
    modal.get_by_label("API Key", exact=True).fill("sk-test-valid-e2e-compat01")
    modal.get_by_label("API Base URL", exact=True).fill(e2e.fakes.base_url("openai"))
    modal.get_by_role("button", name="Save").click()
    expect(modal).to_be_hidden()
    expect(page.locator("#custom-models .btn-primary")).to_have_text("Add Model")

    page.locator("#custom-models").get_by_role("link", name="Add Model").click()
    expect(modal.get_by_role("heading", name="Add Model")).to_be_visible()
    modal.get_by_role("group", name="Model").get_by_label("Model name").fill("gpt-4o-mini")
    credential = modal.get_by_role("group", name="Credential")
    credential.get_by_label("Credential", exact=True).select_option(
        label="Server key · provider credential"
    )
    # Choosing it fills its address and shows its key's mask; the model's name stays.
    expect(credential.get_by_label("API Base URL", exact=True)).to_have_value(
        e2e.fakes.base_url("openai")
    )
    expect(credential.get_by_label("API Key", exact=True)).to_have_attribute(
        "placeholder", re.compile("leave empty to reuse Server key")
    )
    expect(modal.get_by_label("Model name")).to_have_value("gpt-4o-mini")
    shot("reusing")
    modal.get_by_role("button", name="Save").click()
    expect(
        page.locator("#toasts").get_by_text("Server key validated and saved. It is the default.")
    ).to_be_visible()
    expect(modal).to_be_hidden()
    row = custom_model_row(page, "gpt-4o-mini")
    expect(row).to_be_visible()
    expect(row).to_contain_text("Server key")
    expect(row).to_contain_text("Active")
    shot("model-added")
