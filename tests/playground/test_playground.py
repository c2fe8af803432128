"""The Playground: every member picks a model, sends a prompt and sees the answer stream in,
then its tokens, latency and the credential's name (never a secret)."""

from __future__ import annotations

import json
from html import unescape

import pytest
from django.urls import reverse

from invocation.models import UsageRecord
from providers import defaults
from tests.factories import CredentialFactory, CustomModelFactory, ModelSettingFactory

PAGE = reverse("playground")
RUN = reverse("playground-run")
SECRET = "sk-test-valid-1"  # the openai_key fixture's api_key
STREAM = {"Accept": "text/event-stream"}


def events(response) -> list[tuple[str, dict]]:
    """The server-sent events of a streamed run, as (name, data)."""
    body = b"".join(response.streaming_content).decode()
    parsed = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


def answer_of(parsed) -> str:
    return "".join(data["text"] for name, data in parsed if name == "delta")


def chat_requests(fake_providers) -> list[dict]:
    return [
        json.loads(r.body)
        for r in fake_providers.requests
        if r.method == "POST" and r.path.endswith("/chat/completions")
    ]


@pytest.mark.parametrize("role", ["owner", "admin", "editor", "member"])
def test_every_member_can_open_the_playground(client_for, openai_key, role):
    response = client_for(role).get(PAGE)

    html = response.content.decode()
    assert response.status_code == 200
    assert '<h1 class="page-title">Playground</h1>' in html
    assert 'role="radiogroup" aria-label="Model"' in html  # the model field, LLMs only
    assert 'value="openai/gpt-4o-mini"' in html and "text-embedding-3" not in html
    assert '<label class="form-label" for="id_prompt">Prompt</label>' in html
    assert '<label class="form-label" for="id_system">System prompt (optional)</label>' in html
    assert ">Run</button>" in html
    assert 'href="/playground/" class="list-group-item' in html  # in the navigation
    assert SECRET not in html


def test_the_workspace_default_llm_is_preselected(client_for, members, openai_key, workspace):
    defaults.default_model_set(
        workspace=workspace,
        model_type="llm",
        model_id="openai/o3",
        acting_user=members["owner"].user,
    )

    html = client_for("member").get(PAGE).content.decode()

    assert 'value="openai/o3" checked' in html
    assert html.count(" checked ") == 1
    assert "Default LLM: <span" in html


def test_without_a_default_the_first_active_model_is_preselected(client_for, openai_key):
    html = client_for("member").get(PAGE).content.decode()

    assert 'value="openai/gpt-4.1" checked' in html
    assert "No default LLM is saved" in html


def test_a_run_streams_the_answer_then_tokens_latency_and_credential_name(client_for, openai_key):
    response = client_for("member").post(
        RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hello there"}, headers=STREAM
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    parsed = events(response)
    assert [name for name, _ in parsed][-1] == "done"
    assert len([name for name, _ in parsed if name == "delta"]) > 1  # piece by piece
    assert answer_of(parsed) == "You said: Hello there"
    done = parsed[-1][1]
    assert done["credential"] == "prod-key"
    assert done["model"] == "openai/gpt-4o-mini"
    assert done["prompt_tokens"] == 2 and done["completion_tokens"] == 4
    assert done["tokens"] == "2 prompt + 4 completion (6 in all)"
    assert done["latency_ms"] >= 0 and done["latency"].endswith(
        f"(first token after {done['first_token_ms']} ms)"
    )
    assert SECRET not in json.dumps(parsed)


def test_the_run_is_metered_under_the_member(client_for, members, openai_key):
    response = client_for("member").post(
        RUN, {"model": "openai/gpt-4o-mini", "prompt": "count me"}, headers=STREAM
    )
    events(response)

    record = UsageRecord.objects.get()
    assert record.user_id == members["member"].user.pk and record.api_key_id is None
    assert record.stream and record.outcome == "success" and record.credential_name == "prod-key"


def test_the_system_prompt_is_sent_to_the_provider(client_for, openai_key, fake_providers):
    response = client_for("member").post(
        RUN,
        {"model": "openai/gpt-4o-mini", "prompt": "Hi", "system": "Answer like a pirate."},
        headers=STREAM,
    )
    events(response)

    (sent,) = chat_requests(fake_providers)
    assert sent["model"] == "gpt-4o-mini" and sent["stream"] is True
    assert sent["messages"] == [
        {"role": "system", "content": "Answer like a pirate."},
        {"role": "user", "content": "Hi"},
    ]


def test_an_empty_system_prompt_is_left_out(client_for, openai_key, fake_providers):
    events(
        client_for("member").post(
            RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hi", "system": "  "}, headers=STREAM
        )
    )

    (sent,) = chat_requests(fake_providers)
    assert [m["role"] for m in sent["messages"]] == ["user"]


def test_without_javascript_the_page_comes_back_with_the_whole_answer(client_for, openai_key):
    response = client_for("member").post(
        RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hello there", "system": "Be brief."}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "You said: Hello there</div>" in html
    assert "prod-key" in html and "2 prompt + 4 completion" not in html  # system words count
    assert "4 completion" in html and "first token after" in html
    assert 'value="openai/gpt-4o-mini" checked' in html  # the form keeps what was sent
    assert SECRET not in html


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ("openai/no-such-model", "openai/no-such-model is not one of this workspace's LLM models"),
        (
            "openai/gpt-4o",
            "openai/gpt-4o cannot be used: disabled. Switched off in this workspace.",
        ),
    ],
)
def test_an_unknown_or_disabled_model_is_refused_with_the_message(
    client_for, workspace, openai_key, fake_providers, model, words
):
    ModelSettingFactory(workspace=workspace, model_name="gpt-4o", enabled=False)
    client = client_for("member")

    response = client.post(RUN, {"model": model, "prompt": "Hi"}, headers=STREAM)

    assert response.status_code == 422
    body = response.json()
    assert words in body["error"]["message"]
    assert body["fields"]["model"] == [body["error"]["message"]]
    page = client.post(RUN, {"model": model, "prompt": "Hi"})  # without JavaScript
    assert page.status_code == 422 and words in unescape(page.content.decode())
    assert chat_requests(fake_providers) == []  # nothing reached the provider


def test_a_custom_model_sharing_a_predefined_name_is_called_not_swapped(
    client_for, workspace, openai_key, fake_providers
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

    response = client_for("member").post(
        RUN, {"model": "openai/gpt-4o#custom", "prompt": "Hi"}, headers=STREAM
    )

    parsed = events(response)
    assert answer_of(parsed) == "You said: Hi"
    assert parsed[-1][1]["credential"] == "tuned-key"  # the custom model's own credential
    calls = [r for r in fake_providers.requests if r.path.endswith("/chat/completions")]
    assert calls[-1].headers["authorization"] == "Bearer sk-test-valid-tuned"


def test_an_empty_prompt_is_refused(client_for, openai_key):
    response = client_for("member").post(RUN, {"model": "openai/gpt-4o-mini"}, headers=STREAM)

    assert response.status_code == 422
    assert response.json()["fields"] == {"prompt": ["This field is required."]}


def test_a_provider_error_before_the_stream_shows_the_message_and_hint(
    client_for, workspace, fake_providers
):
    CredentialFactory(
        workspace=workspace,
        name="limited-key",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-ratelimited-1"}),
        config={"base_url": fake_providers.base_url("openai")},
    )

    response = client_for("member").post(
        RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hi"}, headers=STREAM
    )

    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and error["title"] == "Rate limited"
    assert error["message"].startswith("Rate limited")
    assert (
        error["hint"]
        == "The provider is throttling this key. Wait and retry, or add another key to a pool."
    )
    assert "sk-test-ratelimited-1" not in response.content.decode()


def test_an_error_mid_stream_is_shown_after_what_arrived(client_for, workspace, fake_providers):
    CustomModelFactory(workspace=workspace, name="midstream-1")
    CredentialFactory(
        workspace=workspace,
        name="tune-key",
        model_name="midstream-1",
        model_type="llm",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-2"}),
        config={"base_url": fake_providers.base_url("openai")},
    )

    response = client_for("member").post(
        RUN, {"model": "openai/midstream-1", "prompt": "go on"}, headers=STREAM
    )

    parsed = events(response)
    names = [name for name, _ in parsed]
    assert answer_of(parsed)  # the first pieces arrived
    assert names[-2:] == ["error", "done"]
    error = parsed[-2][1]
    assert error["message"] and error["hint"]
    assert parsed[-1][1]["credential"] == "tune-key"
    assert UsageRecord.objects.get().outcome == error["code"]


@pytest.mark.django_db(transaction=True)
def test_a_client_going_away_closes_the_provider_stream(client_for, openai_key):
    """Drives the WSGI application as a server does, with the session and CSRF header the
    page's script sends: read the first event, then close the response, as gunicorn does when
    the browser has gone away (or Stop was pressed)."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory

    client = client_for("member")
    client.get(PAGE)  # sets the CSRF cookie, as opening the page does
    token = client.cookies["csrftoken"].value
    environ = (
        RequestFactory()
        .post(
            RUN,
            {"model": "openai/gpt-4o-mini", "prompt": "a long answer please"},
            headers={**STREAM, "X-CSRFToken": token},
        )
        .environ
    )
    environ["HTTP_COOKIE"] = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    statuses = []
    app_iter = WSGIHandler()(environ, lambda status, headers: statuses.append(status))

    assert statuses == ["200 OK"] and next(iter(app_iter)).startswith(b"event: delta")
    app_iter.close()

    record = UsageRecord.objects.get()
    assert record.outcome == "client_disconnected" and record.stream


def test_the_run_endpoint_takes_post_only(client_for, openai_key):
    assert client_for("member").get(RUN).status_code == 405


def test_anonymous_visitors_are_sent_to_login(client, openai_key):
    for response in (client.get(PAGE), client.post(RUN, {"prompt": "Hi"})):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
