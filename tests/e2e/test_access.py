"""Roles and accessibility in the browser: a member's read-only pages, the keyboard, labels."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import TIMEOUT_MS, modal_closed, modal_shown
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER = "/settings/model-providers/openai/"
POOL = f"{PROVIDER}load-balancing/?model=gpt-4o-mini&type=llm"
SECRETS = ["sk-test-valid-e2e-secret-one-7f3a9c", "sk-test-valid-e2e-secret-two-2b8d41"]

UNLABELLED_FIELDS = """() => [...document.querySelectorAll("input, select, textarea")]
  .filter((el) => el.type !== "hidden")
  .filter((el) => !(
      (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`))
      || (el.getAttribute("aria-label") || "").trim()
      || (el.getAttribute("aria-labelledby") || "").trim()
  ))
  .map((el) => el.outerHTML.slice(0, 200))"""


def stored_credentials(e2e):
    """Two credentials, one a custom model's, stored with secrets the DOM must never show."""
    CredentialFactory(
        workspace=e2e.workspace,
        name="Production key",
        is_default=True,
        secret_data=json.dumps({"api_key": SECRETS[0]}),
        config={"base_url": e2e.fakes.base_url("openai")},
        masks={"api_key": "sk-…9c"},
    )
    CredentialFactory(
        workspace=e2e.workspace,
        name="Spare key",
        secret_data=json.dumps({"api_key": SECRETS[1]}),
        config={"base_url": e2e.fakes.base_url("openai")},
        masks={"api_key": "sk-…41"},
    )


def assert_no_secret(page: Page) -> None:
    html = page.content()
    for secret in SECRETS:
        assert secret not in html, f"a secret is in the DOM of {page.url}"
        assert secret[-12:] not in html, f"a secret's tail is in the DOM of {page.url}"


def test_scenario_member_sees_everything_read_only(page: Page, e2e, pro_plan, shot):
    e2e.workspace.plan = pro_plan
    e2e.workspace.save()
    stored_credentials(e2e)
    e2e.login(page, "member")
    main = page.locator("main")
    forbidden = [
        "Add credential",
        "Delete",
        "Save",
        "Select as default",
        "Check now",
        "Check all",
        "Add Model",
        "Refresh models",
        "Turn on",
        "Remove",
    ]

    page.goto(e2e.url("/settings/model-providers/"))
    expect(main.get_by_role("heading", name="Model Providers", level=1)).to_be_visible()
    assert_no_secret(page)
    shot("providers")

    page.goto(e2e.url(PROVIDER))
    expect(page.locator("#credential-list")).to_contain_text("Production key")
    expect(page.locator("#credential-list")).to_contain_text("Spare key")
    expect(page.locator("#credential-list")).to_contain_text("sk-…9c")
    shot("provider-detail")
    pages = [
        (PROVIDER, "provider"),
        (f"{PROVIDER}models/credentials/", "custom-credentials"),
        (POOL, "pool"),
    ]
    for path, label in pages:
        page.goto(e2e.url(path))
        expect(main).to_be_visible()
        for name in forbidden:
            for role in ("button", "link"):
                expect(main.get_by_role(role, name=name, exact=True)).to_have_count(0)
        expect(main.get_by_role("button", name="Config gpt-4o-mini", exact=True)).to_have_count(0)
        assert_no_secret(page)
        shot(label)
    expect(page.get_by_role("heading", name="Load balancing", level=1)).to_be_visible()
    expect(page.get_by_text("No entries yet")).to_be_visible()


def is_focused(target) -> bool:
    """Whether `target` is the document's active element: where the keys typed next will go.
    (Playwright's to_be_focused also wants the window to have the system focus, which a
    headless browser does not always report.)"""
    return target.evaluate("(el) => el === document.activeElement")


def wait_for_focus(page: Page, target) -> None:
    """Waits, a frame at a time, until `target` (looked up anew each time, since a part of the
    page may be re-rendered meanwhile) has the focus."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not is_focused(target):
        where = page.evaluate("() => document.activeElement && document.activeElement.outerHTML")
        assert time.monotonic() < deadline, f"the focus stayed on {(where or 'nothing')[:160]}"
        page.evaluate("() => new Promise((done) => requestAnimationFrame(done))")


def tab_to(page: Page, target, limit: int = 12) -> None:
    """Presses Tab until `target` has the focus (at most `limit` times)."""
    for _ in range(limit):
        if is_focused(target):
            return
        page.keyboard.press("Tab")
    assert is_focused(target), "Tab never reached it"


def focus_in_modal(page: Page) -> bool:
    return page.evaluate("() => document.getElementById('modal').contains(document.activeElement)")


def test_scenario_keyboard_only_add_credential_and_labels(page: Page, e2e, pro_plan, shot):
    e2e.workspace.plan = pro_plan
    e2e.workspace.save()
    e2e.login(page, "admin")
    page.goto(e2e.url(PROVIDER))
    modal = page.locator("#modal")
    opener = page.locator("#credential-list").get_by_role("link", name="Add credential").first
    name = modal.get_by_label("Name", exact=True)

    def open_with_keyboard() -> None:
        """Enter on the opener: the dialog opens with the focus on its first field."""
        opener.focus()
        page.keyboard.press("Enter")
        expect(modal.get_by_role("heading", name="Add credential")).to_be_visible()
        wait_for_focus(page, name)
        modal_shown(page)

    # Open from the keyboard: the focus is inside, on the first field (not the close button),
    # and Tab and Shift+Tab keep it inside; Escape gives it back to the opener.
    open_with_keyboard()
    shot("form-open")
    for key in ["Shift+Tab", "Shift+Tab", "Tab", "Tab", "Tab"] + ["Tab"] * 8:
        page.keyboard.press(key)
        assert focus_in_modal(page), f"{key} took the focus out of the dialog"
    page.keyboard.press("Escape")
    modal_closed(page)
    wait_for_focus(page, opener)

    # Cancel gives it back too.
    open_with_keyboard()
    tab_to(page, modal.get_by_role("button", name="Cancel", exact=True).last)
    page.keyboard.press("Enter")
    modal_closed(page)
    wait_for_focus(page, opener)

    # Filled and saved with the keyboard alone; the focus returns to Add credential in the
    # list that the save re-rendered.
    open_with_keyboard()
    page.keyboard.type("Keyboard key")
    tab_to(page, modal.get_by_label("API Key", exact=True))
    page.keyboard.type("sk-test-valid-e2e-keyboard1")
    tab_to(page, modal.get_by_label("API Base URL", exact=True))
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(e2e.fakes.base_url("openai"))
    tab_to(page, modal.get_by_label("Organization ID", exact=True))
    save = modal.get_by_role("button", name="Save")
    tab_to(page, save)  # past Cancel
    shot("filled")
    page.keyboard.press("Space")
    expect(page.locator("#toasts").get_by_text("Keyboard key validated and saved.")).to_be_visible()
    expect(modal).to_be_hidden()
    row = page.locator("#credential-list tbody tr").filter(has_text="Keyboard key")
    expect(row.get_by_text("Default", exact=True)).to_be_visible()
    wait_for_focus(page, opener)
    shot("saved")

    # Every form field on the main pages has a label.
    pages = [
        "/settings/model-providers/",
        PROVIDER,
        f"{PROVIDER}credentials/new/",
        f"{PROVIDER}models/new/",
        POOL,
        "/settings/default-models/",
        "/settings/members/",
        "/settings/api-keys/",
        "/settings/workspace/",
    ]
    for path in pages:
        page.goto(e2e.url(path))
        expect(page.locator("main")).to_be_visible()
        assert page.evaluate(UNLABELLED_FIELDS) == [], f"fields without a label on {path}"
    # The forms opened in the modal too.
    page.goto(e2e.url(PROVIDER))
    page.get_by_role("link", name="Add credential").first.click()
    expect(modal.get_by_role("heading", name="Add credential")).to_be_visible()
    assert page.evaluate(UNLABELLED_FIELDS) == [], "fields without a label in Add credential"
    modal_shown(page)
    page.keyboard.press("Escape")
    modal_closed(page)
    page.goto(e2e.url(POOL))
    page.get_by_role("link", name="Add credential").click()
    expect(modal.get_by_role("heading", name="Add credential")).to_be_visible()
    assert page.evaluate(UNLABELLED_FIELDS) == [], "fields without a label in the pool's form"
    shot("labels")


def test_a_role_lowered_meanwhile_is_told_it_cannot_open_or_change(page: Page, e2e):
    """An admin's page stays open while an owner makes them a member: what they click next is
    refused by the server, and the toast says whether opening or changing was refused."""
    from workspaces.models import Environment, Role
    from workspaces.services import default_environment

    default_environment(e2e.workspace)
    e2e.login(page, "admin")
    page.goto(e2e.url("/settings/environments/"))
    switch = page.get_by_label("Members may create keys")
    expect(switch).to_be_checked()
    membership = e2e.members["admin"]
    membership.role = Role.MEMBER
    membership.save(update_fields=["role"])

    page.get_by_role("link", name="Add environment").click()
    toasts = page.locator("#toasts")
    expect(toasts).to_contain_text("Your role cannot open this. Reload the page")
    expect(page.locator("#modal")).to_be_hidden()  # no dialog left spinning over the page

    switch.uncheck()
    expect(toasts).to_contain_text("Your role does not allow this change.")
    assert Environment.objects.get(workspace=e2e.workspace).members_create_keys
