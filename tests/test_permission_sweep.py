"""Every cell of the access table: URL × caller × method, with the exact answer expected.

tests/test_access.py holds the table of who may call each URL (`EXPECTED`, `POST_NEEDS`); this
sweep checks every combination of it: anonymous, each role of the workspace and an admin of
another workspace, each with GET and POST. A method the view does not take answers 405 for
everyone; an anonymous visitor is sent to the login page; a role below the minimum gets 403;
another workspace's admin reaching for this workspace's ids gets 404; an allowed call answers
neither 403 nor 404 nor a server error. The gateway (/v1/) authenticates API keys, never
sessions: its answers are JSON, 401 without a key, whoever is logged in.

`METHODS` below is this file's own classification (which methods each view takes); a URL
missing from it fails, like a URL missing from `EXPECTED` fails tests/test_access.py.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.test_access import (
    EXPECTED,
    PATTERNS,
    POST_NEEDS,
    RANK,
    app_patterns,
    objects,  # noqa: F401 - a fixture
    url_for,
)

GET, POST = "GET", "POST"
BOTH = frozenset({GET, POST})
GET_ONLY = frozenset({GET})
POST_ONLY = frozenset({POST})

# Which methods each view takes (its require_GET / require_POST / require_http_methods, or the
# gateway's own method check). Anything else must answer 405 for every caller.
METHODS = {
    "home": GET_ONLY,
    "login": BOTH,
    "logout": POST_ONLY,  # Django's LogoutView: POST only since 5.0
    "invitation-open": GET_ONLY,
    "invitation-accept": BOTH,
    "invitation-resend": POST_ONLY,
    "invitation-delete": BOTH,
    "healthz": GET_ONLY,
    "workspace-create": BOTH,
    "workspace-switch": POST_ONLY,
    "workspace-update": BOTH,
    "workspace-leave": POST_ONLY,
    "workspace-transfer": POST_ONLY,
    "member-list": GET_ONLY,
    "member-create": BOTH,
    "member-update": POST_ONLY,
    "member-delete": BOTH,
    "provider-list": GET_ONLY,
    "provider-detail": GET_ONLY,
    "credential-list": GET_ONLY,
    "credential-create": BOTH,
    "credential-update": BOTH,
    "credential-delete": BOTH,
    "credential-default": POST_ONLY,
    "credential-check": POST_ONLY,
    "credential-check-all": POST_ONLY,
    "validation-detail": GET_ONLY,
    "audit-log": GET_ONLY,
    "custom-model-create": BOTH,
    "custom-model-readd": POST_ONLY,
    "custom-model-detail": GET_ONLY,
    "custom-model-delete": BOTH,
    "custom-model-update": BOTH,
    "custom-credential-list": GET_ONLY,
    "model-toggle": POST_ONLY,
    "model-refresh": BOTH,
    "model-refresh-detail": GET_ONLY,
    "provider-preference": POST_ONLY,
    "pool-detail": GET_ONLY,
    "pool-state": GET_ONLY,
    "pool-switch": POST_ONLY,
    "pool-entry-create": BOTH,
    "pool-entry-update": POST_ONLY,
    "pool-entry-delete": POST_ONLY,
    "environment-list": GET_ONLY,
    "environment-create": BOTH,
    "environment-update": BOTH,
    "environment-keys": POST_ONLY,
    "environment-delete": BOTH,
    "environment-pin": POST_ONLY,
    "environment-pin-create": BOTH,
    "api-key-list": GET_ONLY,
    "api-key-create": BOTH,
    "api-key-revoke": POST_ONLY,
    "default-models": BOTH,
    "model-field-search": GET_ONLY,
    "playground": GET_ONLY,
    "playground-run": POST_ONLY,
    "playground-image": BOTH,
    "playground-speech": BOTH,
    "playground-transcription": BOTH,
    "playground-rerank": BOTH,
    "usage": GET_ONLY,
    "usage-csv": GET_ONLY,
    "gateway-models": GET_ONLY,
    "gateway-chat": POST_ONLY,
    "gateway-embeddings": POST_ONLY,
    "gateway-moderations": POST_ONLY,
    "gateway-images": POST_ONLY,
    "gateway-speech": POST_ONLY,
    "gateway-transcriptions": POST_ONLY,
    "gateway-rerank": POST_ONLY,
    "gateway-not-found": BOTH,  # any method: a JSON 404 naming the unknown endpoint
}

# What a real request sends besides the URL: the model a pool page is about, the id a form
# names. Without it these views answer 404 for "no such model/credential", which would hide
# whether the caller was let in.
POOL_MODEL = {"model": "gpt-4o", "type": "llm"}
REQUEST_DATA = {
    "pool-detail": lambda _: POOL_MODEL,
    "pool-state": lambda _: POOL_MODEL,
    "pool-switch": lambda _: POOL_MODEL,
    "pool-entry-create": lambda _: POOL_MODEL,
    "custom-model-readd": lambda found: {"credential": found["credential"].pk},
    "workspace-switch": lambda _: {"workspace": "acme"},
}
# Views that take an id of the workspace in the body or query rather than the path: another
# workspace's admin sending it gets 404 like for an id in the path.
BODY_ID_URLS = {"custom-model-readd", "workspace-switch"}

GATEWAY = {name for name in EXPECTED if name.startswith("gateway-")}
OBJECT_URLS = {name for name, pattern, _ in PATTERNS if "pk>" in pattern}
CALLERS = ["anonymous", "member", "editor", "admin", "owner", "other-admin"]
NAMES = sorted(EXPECTED)


def test_every_url_has_its_methods_classified():
    names = sorted(name for name, _, _ in app_patterns())
    assert sorted(METHODS) == names, "classify new URLs in METHODS (and EXPECTED)"
    assert sorted(EXPECTED) == names
    assert set(POST_NEEDS) <= set(EXPECTED)
    assert set(REQUEST_DATA) | BODY_ID_URLS <= set(EXPECTED)
    for name, needed in POST_NEEDS.items():
        assert POST in METHODS[name], f"{name}: POST_NEEDS names a view that takes no POST"
        assert RANK[needed] >= RANK[EXPECTED[name]], name


def expected_answer(name: str, caller: str, method: str) -> str:
    """One of: "405", "login", "403", "404", "json-401", "json-404", "allowed"."""
    minimum = EXPECTED[name]
    if method not in METHODS[name]:
        return "405"
    if name in GATEWAY:
        return "json-404" if name == "gateway-not-found" else "json-401"
    if minimum == "public":
        return "allowed"
    if caller == "anonymous":
        return "login"
    if caller == "other-admin" and name in OBJECT_URLS | BODY_ID_URLS:
        return "404"
    if minimum == "login":
        return "allowed"
    role = "admin" if caller == "other-admin" else caller
    needed = POST_NEEDS.get(name, minimum) if method == POST else minimum
    return "allowed" if RANK[role] >= RANK[needed] else "403"


def test_the_table_has_every_kind_of_cell():
    """The expected table is built from EXPECTED; it must exercise every kind of answer."""
    answers = {
        expected_answer(name, caller, method)
        for name in NAMES
        for caller in CALLERS
        for method in (GET, POST)
    }
    assert answers == {"405", "login", "403", "404", "json-401", "json-404", "allowed"}


@pytest.fixture
def caller_client(members, other_workspace):
    def make(caller: str) -> Client:
        client = Client()
        if caller == "other-admin":
            client.force_login(other_workspace["admin"].user)
        elif caller != "anonymous":
            client.force_login(members[caller].user)
        return client

    return make


def check(response, name: str, caller: str, method: str) -> None:
    cell = (name, caller, method, response.status_code)
    expected = expected_answer(name, caller, method)
    status = response.status_code
    assert status < 500 or (name == "healthz" and status == 503), cell
    if name in GATEWAY:
        assert response["Content-Type"].startswith("application/json"), cell
        assert response.json()["error"]["message"], cell
    if expected == "405":
        assert status == 405, cell
        allow = set(response["Allow"].replace(" ", "").split(",")) - {"OPTIONS", "HEAD"}
        assert allow == METHODS[name], cell
    elif expected == "login":
        assert status == 302, cell
        assert response["Location"].startswith(reverse("login") + "?next="), cell
    elif expected in ("403", "404"):
        assert status == int(expected), cell
    elif expected == "json-401":
        assert status == 401, cell
        assert response.json()["error"]["code"] == "invalid_api_key", cell
    elif expected == "json-404":
        assert status == 404, cell
        assert response.json()["error"]["code"] == "unknown_url", cell
    else:
        assert status not in (403, 404, 405), cell


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name", NAMES)
def test_every_cell_of_the_access_table(caller_client, objects, caller, name):  # noqa: F811
    """GET then POST (a POST may change or delete what the GET showed), as a full page and as
    an HTMX fragment; rows of the workspace survive a caller from another workspace."""
    client = caller_client(caller)
    url = url_for(name, objects)
    data = REQUEST_DATA.get(name, lambda _: {})(objects)
    for headers in ({"HX-Request": "true"}, {}):
        check(client.get(url, data, headers=headers), name, caller, GET)
    if caller == "other-admin":
        before = {key: type(obj).objects.filter(pk=obj.pk).exists() for key, obj in objects.items()}
    check(client.post(url, data, headers={"HX-Request": "true"}), name, caller, POST)
    if caller == "other-admin" and name in OBJECT_URLS:
        for key, obj in objects.items():
            assert type(obj).objects.filter(pk=obj.pk).exists() == before[key], (name, key)


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
@pytest.mark.parametrize("name", sorted(GATEWAY))
def test_gateway_answers_json_to_anonymous_callers_never_html(client, db, name, method):
    url = url_for(name, {})
    response = getattr(client, method)(url, headers={"Accept": "text/html"})
    assert response["Content-Type"].startswith("application/json"), (name, method)
    assert b"<html" not in response.content.lower(), (name, method)
    body = response.json()["error"]
    if name == "gateway-not-found":
        assert (response.status_code, body["code"]) == (404, "unknown_url")
    elif method.upper() in METHODS[name]:
        assert (response.status_code, body["code"]) == (401, "invalid_api_key")
    else:
        assert response.status_code == 405, (name, method)


def test_a_revoked_or_malformed_key_is_a_json_401(client, db, members, workspace):
    from api_keys.services import api_key_create, api_key_revoke

    new = api_key_create(workspace=workspace, name="x", acting_user=members["owner"].user)
    api_key_revoke(api_key=new.api_key, acting_user=members["owner"].user)
    for header in (f"Bearer {new.secret}", "Bearer", "Basic abc", new.secret, "Bearer mck_x"):
        response = client.get(reverse("gateway-models"), headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"]["code"] == "invalid_api_key", header
