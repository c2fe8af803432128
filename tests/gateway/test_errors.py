"""What the gateway answers when the request, the model or the key is wrong: OpenAI's error
shape and status codes, naming the field, and never an HTML page."""

from __future__ import annotations

import json

import pytest

from providers.services import model_set_enabled
from tests.factories import CredentialFactory, CustomModelFactory


def post(client, path, body, headers, **extra):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, data, content_type="application/json", headers=headers, **extra)


def error_of(response):
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


HELLO = [{"role": "user", "content": "Hello"}]


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"messages": HELLO}, "model", "`model` is required"),
        ({"model": "openai/gpt-4o"}, "messages", "non-empty list"),
        (
            {"model": "openai/gpt-4o", "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "system, developer, user, assistant or tool",
        ),
        (
            {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": 5}]},
            "messages[0].content",
            "must be a string",
        ),
        (
            {"model": "openai/gpt-4o", "messages": HELLO, "temperature": 3},
            "temperature",
            "from 0 to 2",
        ),
        (
            {"model": "openai/gpt-4o", "messages": HELLO, "max_tokens": 0},
            "max_tokens",
            "positive integer",
        ),
        ({"model": "openai/gpt-4o", "messages": HELLO, "stop": ["a"] * 5}, "stop", "up to 4"),
        ({"model": "openai/gpt-4o", "messages": HELLO, "stream": "yes"}, "stream", "true or false"),
        ({"model": "openai/gpt-4o", "messages": HELLO, "n": 2}, "n", "n: 1"),
    ],
)
def test_bad_chat_requests_get_400_naming_the_field(client, bearer, openai_key, body, param, words):
    response = post(client, "/v1/chat/completions", body, bearer)
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == param and words in error["message"]
    assert error["type"] == "invalid_request_error"


def test_a_body_that_is_not_json_gets_400(client, bearer, openai_key):
    response = post(client, "/v1/chat/completions", b"{not json", bearer)
    assert response.status_code == 400 and "not valid JSON" in error_of(response)["message"]


def test_a_body_over_the_limit_gets_413(client, bearer, openai_key, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 1000
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "x" * 2000}]}
    response = post(client, "/v1/chat/completions", body, bearer)
    assert response.status_code == 413 and "larger than" in error_of(response)["message"]


def test_an_unknown_model_gets_404(client, bearer, openai_key):
    response = post(
        client, "/v1/chat/completions", {"model": "openai/gpt-9", "messages": HELLO}, bearer
    )
    assert response.status_code == 404
    assert error_of(response)["code"] == "model_not_found"
    response = post(client, "/v1/embeddings", {"model": "nothing", "input": "x"}, bearer)
    assert response.status_code == 404


def test_a_disabled_model_gets_403(client, bearer, openai_key, workspace, members):
    model_set_enabled(
        workspace=workspace,
        provider_key="openai",
        model_name="gpt-4o",
        model_type="llm",
        enabled=False,
        acting_user=members["owner"].user,
    )
    from workspaces.config_cache import config_forget_all

    config_forget_all()
    response = post(
        client, "/v1/chat/completions", {"model": "openai/gpt-4o", "messages": HELLO}, bearer
    )
    assert response.status_code == 403
    assert (
        "switched off" in error_of(response)["message"].lower()
        or "disabled" in error_of(response)["message"].lower()
    )
    models = client.get("/v1/models", headers=bearer).json()["data"]
    assert "openai/gpt-4o" not in [m["id"] for m in models]
    assert "openai/gpt-4o-mini" in [m["id"] for m in models]


def test_a_model_without_a_credential_gets_403(client, bearer, workspace):
    response = post(
        client,
        "/v1/chat/completions",
        {"model": "anthropic/claude-sonnet-4-5", "messages": HELLO},
        bearer,
    )
    assert response.status_code in (403, 404)
    assert error_of(response)["param"] == "model"


def test_a_bare_name_works_when_one_provider_offers_it_and_is_refused_when_several_do(
    client, bearer, openai_key, workspace, fake_providers
):
    models = client.get("/v1/models", headers=bearer).json()["data"]
    gpt_4o = next(model for model in models if model["id"] == "openai/gpt-4o")
    assert {**gpt_4o, "features": None} == {
        "id": "openai/gpt-4o",
        "object": "model",
        "created": 0,
        "owned_by": "openai",
        "features": None,
    }
    assert "tool-call" in gpt_4o["features"]
    CustomModelFactory(workspace=workspace, provider="openai_compatible", name="gpt-4o")
    CredentialFactory(
        workspace=workspace,
        provider="openai_compatible",
        model_name="gpt-4o",
        model_type="llm",
        is_default=True,
        config={"base_url": fake_providers.base_url("openai")},
    )
    from workspaces.config_cache import config_forget_all

    config_forget_all()
    response = post(client, "/v1/chat/completions", {"model": "gpt-4o", "messages": HELLO}, bearer)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "model_ambiguous"
    assert "openai/gpt-4o" in error["message"] and "openai_compatible/gpt-4o" in error["message"]


def test_wrong_methods_and_unknown_paths_answer_json(client, bearer):
    response = client.get("/v1/chat/completions", headers=bearer)
    assert response.status_code == 405 and error_of(response)["message"].startswith("Use POST")
    response = client.get("/v1/completions", headers=bearer)
    assert response.status_code == 404 and error_of(response)["code"] == "unknown_url"


def test_a_secret_that_does_not_decrypt_is_a_clean_502(client, bearer, openai_key):
    from django.db import connection

    with connection.cursor() as cursor:  # as if FIELD_ENCRYPTION_KEY had lost its old key
        cursor.execute(
            "UPDATE credentials_credential SET secret_data = %s WHERE id = %s",
            ["gAAAAABnot-a-token-for-this-key", openai_key.pk],
        )
    response = post(
        client, "/v1/chat/completions", {"model": "openai/gpt-4o", "messages": HELLO}, bearer
    )
    assert response.status_code == 502
    assert "cannot be decrypted" in error_of(response)["message"]


def test_a_custom_model_named_like_a_predefined_one_is_reached_with_its_suffix(
    client, bearer, workspace, openai_key, fake_providers
):
    CustomModelFactory(workspace=workspace, name="gpt-4o")
    CredentialFactory(
        workspace=workspace,
        name="tuned-key",
        model_name="gpt-4o",
        model_type="llm",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-tuned"}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    listed = [m["id"] for m in client.get("/v1/models", headers=bearer).json()["data"]]
    assert {"openai/gpt-4o", "openai/gpt-4o#custom"} <= set(listed)
    for model, key in (
        ("openai/gpt-4o", "sk-test-valid-1"),
        ("openai/gpt-4o#custom", "sk-test-valid-tuned"),
    ):
        response = post(client, "/v1/chat/completions", {"model": model, "messages": HELLO}, bearer)
        assert response.status_code == 200
        assert response.json()["model"] == model
        assert fake_providers.requests[-1].headers["authorization"] == f"Bearer {key}"


def deep(depth: int, kind: str = "list") -> str:
    """JSON nested `depth` levels deep: [[[...]]] or {"a":{"a":...}}."""
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings", "/v1/moderations"])
@pytest.mark.parametrize("kind", ["list", "object"])
def test_a_body_nested_1000_deep_gets_400(client, bearer, openai_key, path, kind):
    response = post(client, path, deep(1000, kind), bearer)
    assert response.status_code == 400
    assert "nested too deeply" in error_of(response)["message"]


@pytest.mark.parametrize(
    "field",
    [
        '"messages": [{"role": "user", "content": %s}]',
        '"messages": [{"role": "user", "content": [{"type": "text", "text": %s}]}]',
        '"stop": %s',
        '"stream_options": %s',
    ],
)
def test_a_field_nested_deeply_gets_400(client, bearer, openai_key, field):
    for depth in (200, 990, 5000):
        body = '{"model": "openai/gpt-4o", %s}' % (field % deep(depth))
        if "messages" not in field:
            body = body[:-1] + ', "messages": [{"role": "user", "content": "Hi"}]}'
        response = post(client, "/v1/chat/completions", body, bearer)
        assert response.status_code == 400, (field, depth)
        assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("value", ["yes", 1, True, [1], ["include_usage"]])
@pytest.mark.parametrize("stream", [True, False])
def test_stream_options_that_is_not_an_object_gets_400(client, bearer, openai_key, value, stream):
    body = {"model": "openai/gpt-4o", "messages": HELLO, "stream": stream, "stream_options": value}
    response = post(client, "/v1/chat/completions", body, bearer)
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == "stream_options" and "must be an object" in error["message"]


def test_include_usage_that_is_not_true_or_false_gets_400(client, bearer, openai_key):
    body = {
        "model": "openai/gpt-4o",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": "no"},
    }
    response = post(client, "/v1/chat/completions", body, bearer)
    assert response.status_code == 400
    assert error_of(response)["param"] == "stream_options.include_usage"


def test_images_have_their_own_body_cap_beside_the_text_cap(client, bearer, openai_key, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 1000
    settings.GATEWAY_MAX_IMAGE_BYTES = 5000
    image = "data:image/png;base64," + "A" * 3000
    parts = [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": image}}]
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": parts}]}
    assert post(client, "/v1/chat/completions", body, bearer).status_code == 200
    parts[0]["text"] = "x" * 2000  # the text alone is over its cap, images or not
    response = post(client, "/v1/chat/completions", body, bearer)
    assert response.status_code == 413 and "of images" not in error_of(response)["message"]
    parts[0]["text"], parts[1]["image_url"]["url"] = "Look", image + "A" * 5000
    response = post(client, "/v1/chat/completions", body, bearer)
    assert response.status_code == 413 and "of images" in error_of(response)["message"]
