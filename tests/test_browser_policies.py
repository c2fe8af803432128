"""Browser policies: every answer (pages, the Django admin, errors) carries an enforcing
Content-Security-Policy that allows no inline code, and a Permissions-Policy that turns off the
devices and sensors the console never uses; the templates hold nothing that policy would block.
(tests/e2e records the browser's own `securitypolicyviolation` events on every page.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import UserFactory

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
DENIED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb")


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_policies(response) -> None:
    assert "Content-Security-Policy-Report-Only" not in response.headers  # enforced, not reported
    header = response.headers["Content-Security-Policy"]
    policy = directives(header)
    assert policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    features = dict(
        item.strip().split("=", 1) for item in response.headers["Permissions-Policy"].split(",")
    )
    for feature in DENIED_FEATURES:
        assert features[feature] == "()", feature


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/no-such-page/"])
def test_pages_anyone_can_reach_send_both_policies(db, path):
    assert_policies(Client().get(path))


@pytest.mark.parametrize(
    "path",
    [
        "/settings/model-providers/",
        "/settings/usage/",
        "/playground/",
        "/settings/members/",
    ],
)
def test_the_console_sends_both_policies(client_for, path):
    response = client_for("owner").get(path)
    assert response.status_code == 200
    assert_policies(response)


def test_fragments_send_both_policies(client_for):
    response = client_for("owner").get("/settings/members/", HTTP_HX_REQUEST="true")
    assert_policies(response)


def test_the_django_admin_sends_both_policies(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for path in ("/admin/", "/admin/workspaces/membership/", "/admin/workspaces/user/add/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_policies(response)


INLINE_CODE = {
    "a style attribute": re.compile(r"\sstyle\s*=", re.I),
    "a <style> element": re.compile(r"<style[\s>]", re.I),
    "an inline <script>": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I),
    "an event-handler attribute": re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I),
    "a javascript: URL": re.compile(r"javascript:", re.I),
}


@pytest.mark.parametrize("kind", INLINE_CODE)
def test_no_template_holds_inline_code_the_policy_would_block(kind):
    """Fragments swapped in by htmx are not all visited by the browser tests; a blocked style
    or script there would silently break a page (a bar with no width, a dead button)."""
    pattern = INLINE_CODE[kind]
    found = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not found, f"{kind} in {found}"
