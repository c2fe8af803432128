"""axe-core on every page and every modal (issue 23, accessibility).

Every URL of the permission sweep that answers GET with a page is opened in Chromium as the
owner and as a member; axe-core (the copy `axe-playwright-python` ships, nothing fetched at run
time) checks it with every rule and no selector left out, and the test fails on any moderate,
serious or critical violation (only "minor" ones, none found today, would pass). On each page,
every kind of modal its buttons open is opened and checked the same way, then closed with Escape.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.e2e.conftest import modal_closed, modal_shown
from tests.test_access import EXPECTED, objects, url_for  # noqa: F401 - a fixture
from tests.test_permission_sweep import GATEWAY, METHODS, REQUEST_DATA

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Axe()
FAILING = {"moderate", "serious", "critical"}
# GET URLs that answer a file, a redirect or a poll rather than a page of their own: a check's
# progress and a model refresh's result are checked inside the modal that polls them, and the
# fragments a page refreshes (its credential list, a model field's search, a pool's live state)
# inside that page.
NOT_PAGES = {
    "logout",
    "healthz",
    "usage-csv",
    "invitation-open",
    "validation-detail",
    "model-refresh-detail",
    "credential-list",
    "model-field-search",
    "pool-state",
}
# Pages only owners and admins may open: a member gets the 403 page (test_access checks that).
MANAGERS_ONLY = {"admin", "owner"}
PAGES = [
    (name, role)
    for name in sorted(EXPECTED)
    if "GET" in METHODS[name] and name not in GATEWAY and name not in NOT_PAGES
    for role in ("owner", "member")
    if not (role == "member" and EXPECTED[name] in MANAGERS_ONLY)
]


def failing_violations(page: Page) -> list[str]:
    results = AXE.run(page, options={"resultTypes": ["violations"]})
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] not in FAILING:
            continue
        for node in violation["nodes"]:
            found.append(
                f"{violation['id']} ({violation['impact']}): {node['target']} "
                f"{node.get('failureSummary', '')[:300]}"
            )
    return found


def is_document(page: Page) -> bool:
    return page.evaluate("() => !!document.querySelector('html > head > title')")


def modal_openers(page: Page) -> list[str]:
    """One opener of each kind: the hx-get of [data-modal] elements, ids turned into N."""
    seen, openers = set(), []
    for target in page.eval_on_selector_all(
        "[data-modal][hx-get]",
        "els => els.filter(e => e.getClientRects().length).map(e => e.getAttribute('hx-get'))",
    ):
        kind = re.sub(r"\d+", "N", target)
        if kind not in seen:
            seen.add(kind)
            openers.append(target)
    return openers


@pytest.mark.parametrize(("name", "role"), PAGES)
def test_no_axe_violation_on_any_page_or_modal(page: Page, e2e, objects, role, name, shot):  # noqa: F811
    e2e.login(page, role)
    url = url_for(name, objects)
    query = "&".join(f"{k}={v}" for k, v in REQUEST_DATA.get(name, lambda _: {})(objects).items())
    response = page.goto(e2e.url(url + (f"?{query}" if query else "")))
    assert response.status == 200 and is_document(page), (name, role, response.status)
    shot(name)
    found = failing_violations(page)
    assert not found, (name, role, found)
    for target in modal_openers(page):
        page.locator(f'[data-modal][hx-get="{target}"]').first.click()
        modal_shown(page)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)  # htmx's settle transition: measured mid-fade, text is grey
        shot(f"modal {target}")
        found = failing_violations(page)
        assert not found, (name, role, target, found)
        page.keyboard.press("Escape")
        modal_closed(page)


def test_revoke_asks_in_the_styled_modal_not_confirm(page: Page, e2e, objects, shot):  # noqa: F811
    """Revoke opens the shared modal (no browser dialog): titled, focus on Cancel and kept
    inside, Escape cancels, the Revoke button revokes; axe finds nothing in it."""
    from playwright.sync_api import expect

    native = []
    page.on("dialog", lambda dialog: (native.append(dialog.message), dialog.dismiss()))
    e2e.login(page, "owner")
    page.goto(e2e.url("/settings/api-keys/"))
    revoke = page.get_by_role("button", name="Revoke ci")
    revoke.click()
    modal_shown(page)
    modal = page.locator("#modal")
    expect(modal.get_by_role("heading", name="Revoke “ci”?")).to_be_visible()
    expect(modal.get_by_role("button", name="Cancel")).to_be_focused()
    for _ in range(3):
        page.keyboard.press("Tab")
        assert page.evaluate(
            "() => document.getElementById('modal').contains(document.activeElement)"
        )
    shot("confirm")
    assert not failing_violations(page)
    page.keyboard.press("Escape")
    modal_closed(page)
    expect(revoke).to_be_focused()
    objects["api_key"].refresh_from_db()
    assert objects["api_key"].is_active
    revoke.click()
    modal_shown(page)
    modal.get_by_role("button", name="Revoke", exact=True).click()
    modal_closed(page)
    expect(page.get_by_text("Revoked").first).to_be_visible()
    objects["api_key"].refresh_from_db()
    assert not objects["api_key"].is_active
    assert not native, native


def test_a_stale_error_toast_goes_away_when_the_retry_succeeds(page: Page, e2e, objects, shot):  # noqa: F811
    from playwright.sync_api import expect

    e2e.login(page, "owner")
    page.goto(e2e.url("/settings/model-providers/openai/"))
    failing = lambda route: route.fulfill(status=500, body="boom")  # noqa: E731
    page.route("**/settings/model-providers/openai/?type=llm", failing)
    tab = page.get_by_role("navigation", name="Filter models by type").get_by_role(
        "link", name="LLM"
    )
    tab.click()
    error = page.locator("#toasts .toast", has_text="Something went wrong")
    expect(error).to_be_visible()
    shot("error")
    page.unroute("**/settings/model-providers/openai/?type=llm", failing)
    tab.click()
    expect(error).to_have_count(0, timeout=2000)  # toasts hide by themselves after 6 s


def test_the_new_key_modal_with_copy_it_now_passes_axe(page: Page, e2e, shot):
    """Modals reached by a POST (the new key, shown once) are checked too."""
    from playwright.sync_api import expect

    e2e.login(page, "owner")
    page.goto(e2e.url("/settings/api-keys/"))
    page.locator("[data-modal][hx-get$='/api-keys/new/']").first.click()
    modal_shown(page)
    page.locator("#modal").get_by_label("Name").fill("axe")
    page.locator("#modal").locator("button[type=submit]").click()
    expect(page.locator("#modal").get_by_text("Copy it now")).to_be_visible()
    page.wait_for_timeout(300)
    shot("created")
    assert not failing_violations(page)
