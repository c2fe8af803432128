"""Model ids a client sends: a length cap answered before any lookup, and a resolution cache
that stays bounded whatever names arrive (unknown names are not kept at all)."""

from __future__ import annotations

import json
import traceback

import pytest

from invocation import api

HELLO = [{"role": "user", "content": "Hello"}]
LONG_ID = "openai/" + "q" * 300  # over the 256-character cap


def post(client, path, body, headers):
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": LONG_ID, "messages": HELLO}),
        ("/v1/chat/completions", {"model": LONG_ID, "messages": HELLO, "stream": True}),
        ("/v1/embeddings", {"model": LONG_ID, "input": "x"}),
        ("/v1/moderations", {"model": LONG_ID, "input": "x"}),
    ],
)
def test_a_model_id_over_256_characters_gets_400_without_the_id(
    client, bearer, openai_key, path, body
):
    response = post(client, path, body, bearer)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "model" and "256 characters" in error["message"]
    assert b"q" * 20 not in response.content


def test_a_model_id_of_256_characters_is_looked_up(client, bearer, openai_key):
    model = "openai/" + "q" * (256 - len("openai/"))
    response = post(client, "/v1/chat/completions", {"model": model, "messages": HELLO}, bearer)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_unique_unknown_model_names_leave_the_resolution_cache_as_it_was(
    client, bearer, openai_key
):
    post(client, "/v1/chat/completions", {"model": "openai/gpt-4o", "messages": HELLO}, bearer)
    before = len(api._resolved)
    for i in range(300):
        body = {"model": f"openai/unknown-{i}-" + "z" * 200, "messages": HELLO}
        assert post(client, "/v1/chat/completions", body, bearer).status_code == 404
    assert len(api._resolved) == before


def test_the_resolution_cache_keeps_at_most_its_size(
    workspace, openai_key, settings, django_assert_num_queries
):
    settings.GATEWAY_MODEL_CACHE_SIZE = 3
    models = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3", "o4-mini"]
    for name in models:
        assert api.resolve(workspace, f"openai/{name}", "llm").name == name
    assert len(api._resolved) == 3
    # The most recent ones are those kept: resolving them again reads no database.
    with django_assert_num_queries(0):
        for name in models[-3:]:
            assert api.resolve(workspace, f"openai/{name}", "llm").name == name
    assert len(api._resolved) == 3


def test_a_disabled_model_is_refused_afresh_on_every_call(workspace, openai_key, members):
    """A refusal is reused for the cache time, but as a new exception each time: re-raising
    one shared exception would chain every caller's frames onto its traceback."""
    from providers.selectors import ModelUnavailable
    from providers.services import model_set_enabled

    model_set_enabled(
        workspace=workspace,
        provider_key="openai",
        model_name="gpt-4o",
        model_type="llm",
        enabled=False,
        acting_user=members["owner"].user,
    )
    depths, messages = [], set()
    for _ in range(5):
        with pytest.raises(ModelUnavailable) as refused:
            api.resolve(workspace, "openai/gpt-4o", "llm")
        depths.append(len(traceback.extract_tb(refused.value.__traceback__)))
        messages.add(refused.value.message)
    assert depths == [depths[0]] * 5
    assert len(messages) == 1 and "gpt-4o" in messages.pop()
