"""No page shows the code's internal words as visible text (issue 23, "Plain words").

Every URL of the permission sweep that answers GET is opened as the owner and as a member, as
a full page and as an HTMX fragment, over a workspace with one object of each kind and a few
audit rows. The visible text (no tags, attributes, scripts or styles) must not contain a type
key (`llm`, `text-embedding`), a credential field's variable (`api_key `), an audit action's
code (`pool.entry_add`) or "0 minutes ago".
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from tests.test_access import EXPECTED, objects, url_for  # noqa: F401 - a fixture
from tests.test_permission_sweep import GATEWAY, METHODS, REQUEST_DATA

# Words of the code that must never reach a reader. `text-embedding` followed by a dash is a
# model's name (text-embedding-3-small), not the type key.
INTERNAL = {
    "llm": re.compile(r"(?<![\w-])llm(?![\w-])"),
    "text-embedding": re.compile(r"(?<![\w-])text-embedding(?![\w-])"),
    "api_key ": re.compile(r"\bapi_key "),
    "pool.entry_add": re.compile(r"pool\.entry_add"),
    "0 minutes ago": re.compile(r"(?<!\d)0\xa0?\s*minutes ago"),
}
PAGES = sorted(
    name
    for name in EXPECTED
    if "GET" in METHODS[name] and name not in GATEWAY and name not in {"logout", "healthz"}
)


class VisibleText(HTMLParser):
    """The text a reader sees: data outside <script>, <style> and <template>."""

    HIDDEN = {"script", "style", "template"}

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def internal_words(text: str) -> list[str]:
    found = []
    for word, pattern in INTERNAL.items():
        for match in pattern.finditer(text):
            found.append(f"{word!r} in …{text[max(0, match.start() - 60) : match.end() + 60]}…")
    return found


def test_the_visible_text_leaves_out_markup_and_scripts():
    html = '<p title="llm">LLM <span class="text-embedding">x</span></p><script>"llm"</script>'
    assert visible_text(html) == "LLM x"
    assert internal_words("a llm model") and internal_words("0 minutes ago")
    assert not internal_words("text-embedding-3-small, LLM, just now, 10 minutes ago")


@pytest.fixture
def activity(objects, members, workspace):  # noqa: F811
    """Audit rows as the services write them, and times that just happened."""
    from django.utils import timezone

    from workspaces.services import audit_record

    owner = members["owner"].user
    credential = objects["credential"]
    audit_record(
        workspace=workspace,
        actor=owner,
        action="pool.entry_add",
        object_type="pool",
        object_repr="openai/gpt-4o (llm)",
        details={"entry": "key-b", "credential": credential.pk},
    )
    audit_record(
        workspace=workspace,
        actor=owner,
        action="credential.create",
        object_type="credential",
        object_repr="key-c (openai)",
        outcome="failure",
        details={"provider": "openai", "error": "authentication_failed"},
    )
    now = timezone.now()
    type(credential).objects.filter(pk=credential.pk).update(last_checked_at=now)
    type(objects["api_key"]).objects.filter(pk=objects["api_key"].pk).update(last_used_at=now)
    return objects


@pytest.mark.parametrize("role", ["owner", "member"])
@pytest.mark.parametrize("name", PAGES)
def test_no_page_shows_internal_words(activity, members, role, name):
    client = Client()
    client.force_login(members[role].user)
    url = url_for(name, activity)
    data = REQUEST_DATA.get(name, lambda _: {})(activity)
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get(url, data, headers=headers)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        found = internal_words(visible_text(response.content.decode()))
        assert not found, (name, role, headers, found)


def test_audit_rows_read_as_sentences(activity, client_for):
    html = client_for("owner").get(reverse("audit-log")).content.decode()
    text = visible_text(html)
    assert "Added key-b to the gpt-4o pool" in text
    assert "Added credential key-c (openai)" in text and "Authentication failed" in text
    assert "authentication_failed" not in text


def test_times_say_just_now_and_name_their_zone(activity, client_for):
    html = client_for("owner").get(reverse("api-key-list")).content.decode()
    text = visible_text(html)
    assert "just now" in text and " UTC" in text


def test_a_cooldown_says_which_zone(settings):
    from datetime import timedelta

    from django.utils import timezone

    from balancing.selectors import COOLING_DOWN, LiveRow

    row = LiveRow.__new__(LiveRow)
    object.__setattr__(row, "state", COOLING_DOWN)
    object.__setattr__(row, "until", timezone.now() + timedelta(seconds=30))
    assert row.label.startswith("Cooling down until ") and row.label.endswith(" UTC")


def test_a_member_opening_an_admin_page_is_told_who_it_is_for(members, client_for, caplog):
    with caplog.at_level("WARNING", logger="django.request"):
        response = client_for("member").get(reverse("audit-log"))
    assert response.status_code == 403
    text = visible_text(response.content.decode())
    assert "This is for owners and admins." in text and "does not allow" not in text


def test_a_403_logs_one_line_without_a_traceback():
    import logging

    from config.logs import ForbiddenInOneLine

    try:
        raise PermissionError("no")
    except PermissionError:
        import sys

        record = logging.LogRecord(
            "django.request", logging.WARNING, __file__, 1, "Forbidden: %s", ("/x",), sys.exc_info()
        )
    record.status_code = 403
    ForbiddenInOneLine().filter(record)
    assert record.exc_info is None and logging.Formatter().format(record) == "Forbidden: /x"


def test_the_remove_member_modal_has_a_remove_button(members, client_for):
    url = reverse("member-delete", args=[members["editor"].pk])
    html = client_for("owner").get(url, headers={"HX-Request": "true"}).content.decode()
    assert "Remove editor@acme.test?" in html and ">Remove</button>" in html


def test_an_off_pool_does_not_say_in_rotation_nor_an_empty_one_that_it_starts_with_default(
    activity, client_for
):
    from tests.test_permission_sweep import POOL_MODEL

    entry = activity["pool_entry"]
    type(entry.pool).objects.filter(pk=entry.pool.pk).update(enabled=False)
    url = url_for("pool-detail", activity)
    text = visible_text(client_for("owner").get(url, POOL_MODEL).content.decode())
    assert "Live state" in text and "In rotation" not in text
    assert "load balancing is off" in text
    entry.delete()
    text = visible_text(client_for("owner").get(url, POOL_MODEL).content.decode())
    assert "No entries yet" in text and "It starts with" not in text
