"""The HTMX answers every page shares: which partial `render_page` picks, and what `done`
sends (events, toast, status) or, without HTMX, flashes and redirects to."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpResponse
from django.test import RequestFactory
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

from workspaces import htmx

HX = {"HX-Request": "true"}


def _request(method: str = "get", **headers):
    request = getattr(RequestFactory(), method)("/", headers=headers)
    request.htmx = HtmxDetails(request)
    request._messages = CookieStorage(request)
    return request


@pytest.fixture
def rendered(monkeypatch) -> list[tuple[str, int]]:
    """The template name and status each `render_page` call asked for."""
    calls: list[tuple[str, int]] = []

    def fake_render(request, template, context=None, status=200):
        calls.append((template, status))
        return HttpResponse(status=status)

    monkeypatch.setattr(htmx, "render", fake_render)
    return calls


def test_a_page_without_htmx_is_the_whole_template(rendered):
    htmx.render_page(_request(), "a.html", fragment="form", targets=("list",))
    assert rendered == [("a.html", 200)]


def test_a_fragment_is_rendered_for_any_htmx_request(rendered):
    htmx.render_page(_request(**HX), "a.html", fragment="form", status=422)
    assert rendered == [("a.html#form", 422)]


def test_a_targeted_section_gets_its_own_partial_and_others_the_page(rendered):
    htmx.render_page(_request(**HX, HX_Target="list"), "a.html", targets=("list", "status"))
    htmx.render_page(_request(**HX, HX_Target="elsewhere"), "a.html", targets=("list",))
    assert rendered == [("a.html#list", 200), ("a.html", 200)]


def test_done_answers_htmx_with_a_204_its_events_then_the_toast():
    response = htmx.done(
        _request("post", **HX), "Saved.", events=("poolChanged", "modelsChanged"), close_modal=True
    )
    assert response.status_code == 204
    trigger = json.loads(response["HX-Trigger"])
    assert list(trigger) == ["poolChanged", "modelsChanged", "closeModal", "toast"]
    assert trigger["toast"] == {"level": "success", "message": "Saved."}


def test_done_keeps_the_response_it_is_given():
    response = htmx.done(
        _request(**HX), "Failed.", "danger", response=HttpResponseStopPolling("row")
    )
    assert response.status_code == 286 and response.content == b"row"
    assert json.loads(response["HX-Trigger"]) == {
        "toast": {"level": "danger", "message": "Failed."}
    }


def test_done_without_htmx_flashes_the_message_and_redirects():
    request = _request("post")
    response = htmx.done(
        request, "Not sent.", "warning", events=("membersChanged",), redirect_to="/members/"
    )
    assert response.status_code == 302 and response["Location"] == "/members/"
    assert "HX-Trigger" not in response
    assert [(m.level_tag, m.message) for m in get_messages(request)] == [("warning", "Not sent.")]


def test_done_without_a_redirect_answers_every_client_alike():
    response = htmx.done(_request("post"), "Gone.", events=("credentialsChanged",))
    assert response.status_code == 204
    assert list(json.loads(response["HX-Trigger"])) == ["credentialsChanged", "toast"]


def test_a_dialog_is_the_pages_h1_alone_and_an_h2_inside_the_modal(client_for):
    """Opened without JavaScript a dialog is a page, and its title that page's one h1; loaded
    into the shared modal it sits under the page's h1 as an h2."""
    from django.urls import reverse

    client = client_for("admin")
    page = client.get(reverse("environment-create")).content.decode()
    fragment = client.get(reverse("environment-create"), HTTP_HX_REQUEST="true").content.decode()
    assert '<h1 class="modal-title" id="modal-title">Add environment</h1>' in page
    assert '<h2 class="modal-title" id="modal-title">Add environment</h2>' in fragment
    assert "<h1" not in fragment
