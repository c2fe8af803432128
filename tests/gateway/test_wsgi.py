"""config.wsgi, as gunicorn serves it: /v1/ goes through the gateway's lean handler (no
session, CSRF or workspace middleware; security headers kept), everything else through the
site's full stack."""

from __future__ import annotations

import io
import json

import pytest
from django.core import signals
from django.db import close_old_connections

from config.wsgi import application
from tests.faults import database_refusing_connections, in_thread


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Like Django's test client: the request signals must not close the test's connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def call(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()},
    }
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    chunks = application(environ, start_response)
    try:
        answer["body"] = b"".join(chunks)
    finally:
        chunks.close()
    return answer


def test_a_chat_completion_is_served_by_the_lean_handler(bearer, openai_key):
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi there"}]}
    answer = call("POST", "/v1/chat/completions", json.dumps(body).encode(), bearer)
    assert answer["status"] == 200
    assert json.loads(answer["body"])["choices"][0]["message"]["content"] == "You said: Hi there"
    assert answer["headers"]["X-Content-Type-Options"] == "nosniff"
    assert answer["headers"]["Content-Length"] == str(len(answer["body"]))  # not chunked
    assert "Set-Cookie" not in answer["headers"]
    assert "Cookie" not in answer["headers"].get("Vary", "")


def test_gateway_errors_and_unknown_endpoints_are_json(bearer):
    unknown = call("GET", "/v1/files", headers=bearer)
    assert unknown["status"] == 404
    assert json.loads(unknown["body"])["error"]["code"] == "unknown_url"
    refused = call("GET", "/v1/models", headers={"Authorization": "Bearer mck_wrong"})
    assert refused["status"] == 401
    assert json.loads(refused["body"])["error"]["code"] == "invalid_api_key"


def test_pages_still_get_the_full_stack(db):
    login = call("GET", "/login/")
    assert login["status"] == 200
    assert "csrftoken" in login["headers"].get("Set-Cookie", "")
    assert login["headers"]["X-Frame-Options"] == "DENY"


def test_a_database_outage_is_a_json_503_not_a_page(postgres, api_key):
    """A key not yet in this process's cache needs the database: while it refuses
    connections the gateway says so in OpenAI's shape, with Retry-After."""
    headers = {"Authorization": f"Bearer {api_key.secret}"}
    with database_refusing_connections():
        answer = in_thread(lambda: call("GET", "/v1/models", headers=headers))
    assert answer["status"] == 503
    assert answer["headers"]["Retry-After"] == "5"
    assert json.loads(answer["body"])["error"]["code"] == "service_unavailable"
