"""Browser tests: Playwright (sync API) drives Debian's Chromium against the app served on
loopback by pytest-django's `live_server`, with a real Celery worker on real Redis
(`celery_worker`) and the fake provider APIs (`fake_providers`).

- `browser` (session): one headless Chromium (/usr/bin/chromium, or $E2E_CHROMIUM).
- `page` (function): a fresh browser context and page per test, 1280 px wide. It records
  every Content-Security-Policy violation on every page the test visits, and the test errors
  at teardown if there was any (`csp_violations(page)` asks mid-test).
- `login(page, email)`: logs in through the login form.
- `shot(label)`: a screenshot of the current step, kept only when the test fails, in
  var/e2e-screenshots/<test-name>/NN-<label>.png (a last one is taken at the failure).
- `e2e`: what every scenario needs: the worker, the fakes, the workspace with one user per
  role, and the live server's URL (`e2e.url("/path")`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.factories import PASSWORD

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "e2e-screenshots"
TIMEOUT_MS = 10_000  # an explicit wait that passes this is a failure, not a slow machine

expect.set_options(timeout=TIMEOUT_MS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures know whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def browser() -> Browser:
    """One Chromium for the e2e tests, closed after them.

    Playwright's sync API keeps an asyncio loop in this thread while it runs, and Django
    refuses ORM calls from such a thread unless told the (synchronous) calls are deliberate;
    both end with this package, so the rest of the suite runs with Django's guard intact.
    """
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


MODAL_EVENTS = """
document.addEventListener("shown.bs.modal", (e) => e.target.setAttribute("data-e2e-shown", ""));
document.addEventListener("hide.bs.modal", (e) => e.target.removeAttribute("data-e2e-shown"));
"""


def modal_shown(page: Page) -> None:
    """Waits until the shared modal has finished opening (it then reacts to Escape)."""
    expect(page.locator("#modal[data-e2e-shown]")).to_be_visible()


def modal_closed(page: Page) -> None:
    """Waits until the shared modal has finished closing: its content is back to the loading
    spinner (opening it again during the fade-out would have the reset wipe the new form)."""
    expect(page.locator("#modal")).to_be_hidden()
    expect(
        page.locator("#modal-content > .modal-body .spinner-border[role=status]")
    ).to_be_attached()


# Each document reports its violations to the test through a binding, which outlives the
# navigation that often follows; the event fires for inline styles and scripts, eval and any
# fetch the policy refuses.
CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => window.e2eCspViolation({
  page: document.location.pathname + document.location.search,
  directive: e.effectiveDirective,
  blocked: e.blockedURI,
  source: e.sourceFile ? `${e.sourceFile}:${e.lineNumber}` : "",
  sample: e.sample,
}));
"""


def csp_violations(page: Page) -> list[dict]:
    """The Content-Security-Policy violations recorded so far in this page's context."""
    page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 50))")  # reports queued
    return list(page.context.e2e_csp_violations)


@pytest.fixture
def page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    # Bootstrap ignores Escape while a modal is still opening; tests wait for `modal_shown`.
    context.add_init_script(MODAL_EVENTS)
    violations: list[dict] = []
    context.e2e_csp_violations = violations
    context.expose_function("e2eCspViolation", lambda violation: violations.append(violation))
    context.add_init_script(CSP_VIOLATIONS)
    page = context.new_page()
    yield page
    with contextlib.suppress(Exception):  # a page the test closed reports nothing more
        csp_violations(page)
    violations = context.e2e_csp_violations
    context.close()
    assert not violations, f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def shot(page: Page, request):
    """shot("label") records the page as it is now; written out only if the test fails."""
    taken: list[tuple[str, bytes]] = []

    def take(label: str) -> None:
        taken.append((label, page.screenshot(full_page=True)))

    yield take

    failed = any(
        getattr(request.node, f"rep_{when}", None) and getattr(request.node, f"rep_{when}").failed
        for when in ("setup", "call")
    )
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    if not failed:
        return
    with contextlib.suppress(Exception):  # the page may be gone; the earlier steps remain
        taken.append(("at-failure", page.screenshot(full_page=True)))
    folder.mkdir(parents=True, exist_ok=True)
    for number, (label, data) in enumerate(taken, start=1):
        name = re.sub(r"[^\w.-]+", "-", label).strip("-")
        (folder / f"{number:02d}-{name}.png").write_bytes(data)


def login(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Logs in through the login form and waits for the first page after it."""
    page.goto(f"{base_url}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Settings")).to_be_visible()


@dataclass
class E2E:
    base_url: str
    fakes: object
    members: dict
    workspace: object

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def login(self, page: Page, role: str) -> None:
        login(page, self.base_url, self.members[role].user.email)


@pytest.fixture
def e2e(celery_worker, live_server, fake_providers, members, workspace, settings):
    """A served app whose credential checks run on the real worker against the fakes."""
    settings.ALLOWED_HOSTS = ["*"]
    return E2E(live_server.url, fake_providers, members, workspace)
