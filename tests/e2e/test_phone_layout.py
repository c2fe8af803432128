"""Every page and every modal fits a phone: at 390×844 nothing scrolls sideways and every
control is on screen; the same pages are photographed at 1440×900 and 390×844.

The pages are the permission sweep's (tests/test_permission_sweep.py): every URL of its table
that answers GET with an HTML document, with the ids of its `objects` (plus rows with long
names), visited as owner and as member (one login each, one browser). A fragment that only
lives inside its page (a list HTMX refreshes) is measured on that page. A control counts as on
screen only if it lies within the viewport: a button in a table that scrolls sideways fails.
On each page every modal trigger (`[data-modal]`) not seen before is opened, checked and
closed.

Screenshots of every page (owner) go to var/screenshots/; with SCREENSHOTS_UPDATE=1
(`make screenshots`) the README's key pages are also written to docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    CSP_VIOLATIONS,
    MODAL_EVENTS,
    TIMEOUT_MS,
    login,
    modal_closed,
    modal_shown,
)
from tests.test_access import objects, url_for  # noqa: F401 - objects is a fixture
from tests.test_permission_sweep import GATEWAY, GET, METHODS, NAMES, REQUEST_DATA

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
ROOT = Path(__file__).resolve().parents[2]
ALL_SHOTS = ROOT / "var" / "screenshots"
README_SHOTS = ROOT / "docs" / "screenshots"
# The README links these by name: docs/screenshots/<name>-390.png and <name>-1440.png.
README_PAGES = {
    "provider-list": "providers",
    "provider-detail": "provider",
    "pool-detail": "load-balancing",
    "api-key-list": "api-keys",
}
# Answers that are not a page: JSON, a CSV download, the health check.
NOT_PAGES = GATEWAY | {"healthz", "usage-csv"}
PAGES = [name for name in NAMES if GET in METHODS[name] and name not in NOT_PAGES]

# How wide the document is, and every visible control that sticks out of the viewport (a button
# hidden in a scrolling table counts: the user cannot see it without scrolling sideways).
MEASURE = """() => {
  const width = window.innerWidth;
  const controls = "a[href], button, input, select, textarea, [role=button]";
  const offscreen = [];
  for (const el of document.querySelectorAll(controls)) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height) continue;
    if (el.closest(".visually-hidden-focusable, .visually-hidden")) continue;
    if (getComputedStyle(el).visibility === "hidden") continue;
    if (box.left < -1 || box.right > width + 1) {
      const text = (el.innerText || el.getAttribute("aria-label") || el.name || "").trim();
      const where = `${Math.round(box.left)}..${Math.round(box.right)}`;
      offscreen.push(`${el.tagName.toLowerCase()} "${text.slice(0, 40)}" ${where}`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width, offscreen};
}"""


def fits(page: Page, where: str) -> list[str]:
    measured = page.evaluate(MEASURE)
    problems = []
    if measured["scrollWidth"] > measured["innerWidth"]:
        problems.append(
            f"{where}: scrollWidth {measured['scrollWidth']} > {measured['innerWidth']}"
        )
    problems += [f"{where}: off screen: {control}" for control in measured["offscreen"]]
    return problems


def page_url(name: str, found) -> str:
    data = REQUEST_DATA.get(name, lambda _: {})(found)
    query = {key: value for key, value in data.items() if name.startswith("pool-")}
    return url_for(name, found) + (f"?{urlencode(query)}" if query else "")


def photograph(page: Page, name: str) -> None:
    """Both widths of the page as it is now, whole; the README's pages also as their first
    screen, as a visitor sees them. The viewport is left at phone width."""
    ALL_SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    label = README_PAGES.get(name, name)
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        shot = f"{label}-{size['width']}.png"
        page.screenshot(path=ALL_SHOTS / shot, full_page=True, animations="disabled")
        if name in README_PAGES and os.environ.get("SCREENSHOTS_UPDATE") == "1":
            README_SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=README_SHOTS / shot, animations="disabled")
    page.set_viewport_size(PHONE)


def check_modals(page: Page, name: str, seen: set[str]) -> list[str]:
    problems = []
    triggers = page.locator("#main [data-modal][hx-get]")
    for index in range(triggers.count()):
        trigger = triggers.nth(index)
        shape = re.sub(r"\d+", "N", trigger.get_attribute("hx-get"))
        if shape in seen:
            continue
        seen.add(shape)
        trigger.click()
        modal_shown(page)
        # loaded: the spinner the dialog opens with has given way to the fragment
        expect(page.locator("#modal-content > .modal-body .spinner-border")).to_have_count(0)
        problems += fits(page, f"{name} → modal {shape}")
        page.keyboard.press("Escape")
        modal_closed(page)
    return problems


def names_readable(page: Page, name: str) -> list[str]:
    """The model picker gives each model's name room for a word, not a letter or two a line."""
    widths = page.locator("[data-model-options] [id$='-name']").evaluate_all(
        "names => names.map((n) => [n.textContent.trim(), n.getBoundingClientRect().width])"
    )
    return [
        f"{name}: model name {label!r} is {width:.0f} px wide"
        for label, width in widths
        if width < 150
    ]


def check_navigation(page: Page) -> list[str]:
    """Below 768 px the settings navigation is behind a menu button, in an offcanvas."""
    navigation = page.get_by_role("navigation", name="Settings")
    expect(navigation).to_be_hidden()
    page.get_by_role("button", name="Menu", exact=True).click()
    expect(navigation).to_be_visible()
    expect(page.locator("#settings-menu.show:not(.showing)")).to_be_attached()  # opened
    expect(navigation.get_by_role("link", name="API keys")).to_be_in_viewport()
    problems = fits(page, "navigation menu")
    page.keyboard.press("Escape")
    expect(navigation).to_be_hidden()
    return problems


@pytest.fixture
def lived_in(objects, members, workspace, pro_plan):  # noqa: F811
    """The sweep's objects plus rows as long as real ones: names, addresses and URLs that
    push a table wider than a phone; on the paid plan, so load balancing can be switched on."""
    workspace.plan = pro_plan
    workspace.save(update_fields=["plan"])
    from api_keys.services import api_key_create
    from tests.factories import CredentialFactory, InvitationFactory, MembershipFactory

    long_url = {"base_url": "https://westeurope-production.openai.example.com/v1"}
    for name in ("Production key (team platform)", "Staging key for the support bot"):
        CredentialFactory(workspace=workspace, name=name, config=long_url)
        entry_credential = CredentialFactory(
            workspace=workspace, name=f"{name} · pool", config=long_url
        )
        objects["pool_entry"].pool.entries.create(
            credential=entry_credential, position=objects["pool_entry"].pool.entries.count()
        )
    MembershipFactory(workspace=workspace, user__email="alexandra.konstantinopoulou@acme-corp.test")
    InvitationFactory(workspace=workspace, email="maximilian.wolfeschlegelstein@acme-corp.test")
    api_key_create(
        workspace=workspace,
        name="Customer support assistant (production)",
        acting_user=members["owner"].user,
    )
    # Environments with long names, a pin of a long-named credential and an own pool: the
    # Environments table has a column per environment.
    from balancing.services import ModelRef, pin_set, pool_entry_add
    from workspaces.services import environment_create

    owner = members["owner"].user
    gpt_4o = ModelRef("openai", "gpt-4o", "llm")
    for name in ("Development (feature branches)", "Staging for the support team"):
        environment = environment_create(workspace=workspace, name=name, acting_user=owner)
        pin_set(
            environment=environment,
            provider="openai",
            credential=entry_credential,
            acting_user=owner,
        )
    own_pool = ModelRef("openai", "gpt-4o-mini", "llm", environment=environment.pk)
    for _ in range(2):
        pool_entry_add(workspace=workspace, ref=own_pool, credential=None, acting_user=owner)
    pin_set(
        environment=environment,
        provider="openai",
        credential=entry_credential,
        acting_user=owner,
        ref=gpt_4o,
    )
    return objects


def is_page(page: Page, url: str) -> bool:
    """A GET that answers an HTML document: not a 204 "still running", a download or JSON, nor a
    fragment that only exists inside its page (a list refreshed by HTMX, measured there)."""
    response = page.request.get(url, max_redirects=5)
    kind = response.headers.get("content-type", "")
    if response.status == 204 or not kind.startswith("text/html"):
        return False
    return response.text().lstrip()[:15].lower() == "<!doctype html>"


@pytest.mark.parametrize("role", ["owner", "member"])
def test_no_page_or_modal_scrolls_sideways_on_a_phone(
    browser, live_server, members, lived_in, role
):
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(MODAL_EVENTS)
    violations: list[dict] = []
    context.expose_function("e2eCspViolation", lambda violation: violations.append(violation))
    context.add_init_script(CSP_VIOLATIONS)
    page = context.new_page()
    if role == "owner":
        shutil.rmtree(ALL_SHOTS, ignore_errors=True)
    try:
        page.set_viewport_size(PHONE)
        page.goto(f"{live_server.url}/login/")
        problems = fits(page, "login page")
        page.set_viewport_size(DESKTOP)
        login(page, live_server.url, members[role].user.email)
        page.set_viewport_size(PHONE)
        problems += check_navigation(page)
        seen: set[str] = set()
        for name in PAGES:
            url = live_server.url + page_url(name, lived_in)
            if not is_page(page, url):
                continue
            page.goto(url)
            problems += fits(page, name)
            problems += names_readable(page, name)
            if role == "owner":
                photograph(page, name)
            problems += check_modals(page, name, seen)
    finally:
        context.close()
    assert not problems, "\n".join(problems)
    assert not violations, f"Content-Security-Policy violations: {violations}"
