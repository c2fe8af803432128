"""The playground's share of the chat surface (issue 21): an image attached for a vision
model, and a tool round trip by hand (define a function, see its call, send its result back)
for a model with tool-call. Neither is offered, nor accepted, for a model without it."""

from __future__ import annotations

import base64
import json
import logging
import re
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse

from invocation.models import UsageRecord
from tests.factories import CredentialFactory, CustomModelFactory
from tests.playground.test_playground import STREAM, answer_of, chat_requests, events

PAGE = reverse("playground")
RUN = reverse("playground-run")
# A 1×1 PNG: real bytes, so the type is read from them.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
SCHEMA = json.dumps({"type": "object", "properties": {"city": {"type": "string"}}})
TOOL = {
    "tool_name": "get_weather",
    "tool_description": "The weather now.",
    "tool_parameters": SCHEMA,
}
EXTRAS = {"HX-Request": "true", "HX-Target": "playground-extras"}


def png(name="cat.png", content=PNG, content_type="image/png"):
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def anthropic_key(workspace, fake_providers):
    return CredentialFactory(
        workspace=workspace,
        provider="anthropic",
        name="anthropic-key",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-1"}),
        config={"base_url": fake_providers.base_url("anthropic")},
    )


@pytest.fixture
def plain_model(workspace, fake_providers):
    """A custom model that can do neither images nor function calls."""
    CustomModelFactory(workspace=workspace, name="text-only-1", features=["streaming"])
    CredentialFactory(
        workspace=workspace,
        name="text-key",
        model_name="text-only-1",
        model_type="llm",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-3"}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    return "openai/text-only-1"


def provider_posts(fake_providers, prefix: str) -> list[dict]:
    return [json.loads(r.body) for r in fake_providers.requests_to(prefix) if r.method == "POST"]


# -- what each model is offered ------------------------------------------------------------------


def test_a_vision_and_tool_model_offers_an_image_and_a_function(client_for, openai_key):
    html = client_for("member").get(PAGE, {"model": "openai/gpt-4o-mini"}).content.decode()

    assert 'enctype="multipart/form-data"' in html
    assert 'type="file" name="image" accept="image/png,image/jpeg,image/webp,image/gif"' in html
    assert '<label class="form-label" for="id_image">Image (optional)</label>' in html
    assert "up to 4 MB. Sent with the prompt, never stored." in html
    assert '<label class="form-label" for="id_tool_name">Function name</label>' in html
    assert 'for="id_tool_parameters">Parameters (JSON schema)</label>' in html


def test_choosing_another_model_re_renders_its_section_keeping_the_function(client_for, openai_key):
    response = client_for("member").get(
        PAGE, {"model": "openai/gpt-4", "tool_name": "get_weather"}, headers=EXTRAS
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="playground-extras"')
    assert "<h1" not in html  # the section only
    assert 'name="image"' not in html  # GPT-4 has tool-call, not vision
    assert 'name="tool_name"' in html and 'value="get_weather"' in html


def test_a_model_without_vision_or_tool_call_gets_neither_control(
    client_for, openai_key, plain_model
):
    html = client_for("member").get(PAGE, {"model": plain_model}).content.decode()

    assert f'value="{plain_model}" checked' in html
    assert 'name="image"' not in html and 'name="tool_name"' not in html
    assert "This model takes text only" in html


def test_a_crafted_image_for_a_model_without_vision_is_refused(
    client_for, openai_key, plain_model, fake_providers
):
    response = client_for("member").post(
        RUN, {"model": plain_model, "prompt": "What is this?", "image": png()}, headers=STREAM
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == f"{plain_model} cannot read images: the model has no vision feature."
    assert error["hint"] == "Choose a model marked vision, or run without the image."
    assert chat_requests(fake_providers) == [] and not UsageRecord.objects.exists()


@pytest.mark.parametrize(
    "extra",
    [TOOL, {"action": "send-results", "transcript": "[]", "tool_result": "x"}],
    ids=["function", "tool-results"],
)
def test_a_crafted_function_for_a_model_without_tool_call_is_refused(
    client_for, openai_key, plain_model, fake_providers, extra
):
    if extra.get("action"):
        call = {"id": "call_1", "name": "f", "arguments": "{}"}
        extra = {**extra, "transcript": json.dumps([{"content": "", "calls": [call]}])}
    response = client_for("member").post(
        RUN, {"model": plain_model, "prompt": "Hi", **extra}, headers=STREAM
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f"{plain_model} cannot call functions: the model has no tool-call feature."
    )
    assert chat_requests(fake_providers) == []


# -- an image ------------------------------------------------------------------------------------


def test_an_attached_image_reaches_the_provider_as_an_image_part(
    client_for, openai_key, fake_providers, caplog
):
    caplog.set_level(logging.DEBUG)
    response = client_for("member").post(
        RUN,
        # The browser's claim is ignored: the type comes from the bytes.
        {"model": "openai/gpt-4o-mini", "prompt": "What is this?", "image": png(content_type="")},
        headers=STREAM,
    )

    parsed = events(response)
    assert answer_of(parsed) == "You said: What is this? [1 image(s)]"
    (sent,) = chat_requests(fake_providers)
    data = base64.b64encode(PNG).decode()
    assert sent["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
            ],
        }
    ]
    assert data not in caplog.text  # never logged
    assert UsageRecord.objects.get().outcome == "success"


def test_an_image_reaches_anthropic_as_an_image_block(client_for, anthropic_key, fake_providers):
    response = client_for("member").post(
        RUN,
        {"model": "anthropic/claude-sonnet-4-5-20250929", "prompt": "Look", "image": png()},
        headers=STREAM,
    )

    events(response)
    (sent,) = provider_posts(fake_providers, "/anthropic/")
    [user] = sent["messages"]
    image = next(block for block in user["content"] if block["type"] == "image")
    assert image["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(PNG).decode(),
    }


def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_sent(
    client_for, openai_key, fake_providers
):
    client = client_for("member")
    fake = png("notes.png", b"just some text, not a picture", "image/png")

    response = client.post(
        RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hi", "image": fake}, headers=STREAM
    )

    assert response.status_code == 422
    assert response.json()["fields"] == {
        "image": ["This file is not a PNG, JPEG, WebP or GIF image."]
    }
    fake.seek(0)
    page = client.post(RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hi", "image": fake})
    assert page.status_code == 422
    assert "This file is not a PNG, JPEG, WebP or GIF image." in page.content.decode()
    assert chat_requests(fake_providers) == []


@override_settings(PLAYGROUND_MAX_IMAGE_BYTES=2**20, FILE_UPLOAD_MAX_MEMORY_SIZE=10)
def test_an_oversized_image_is_refused_and_never_written_to_disk(
    client_for, openai_key, fake_providers, monkeypatch
):
    from django.core.files import uploadedfile

    def no_disk(*args, **kwargs):
        raise AssertionError("an upload was written to a temporary file")

    monkeypatch.setattr(uploadedfile.TemporaryUploadedFile, "__init__", no_disk)
    big = png("big.png", PNG + b"\0" * 2**20)

    response = client_for("member").post(
        RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hi", "image": big}, headers=STREAM
    )

    assert response.status_code == 422
    assert response.json()["fields"] == {
        "image": ["The image is larger than 1 MB: choose a smaller one."]
    }
    assert chat_requests(fake_providers) == []
    # Under the cap, above FILE_UPLOAD_MAX_MEMORY_SIZE: still in memory, and sent.
    events(
        client_for("member").post(
            RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hi", "image": png()}, headers=STREAM
        )
    )
    assert len(chat_requests(fake_providers)) == 1


# -- a function ----------------------------------------------------------------------------------


def test_a_bad_json_schema_is_refused_with_a_clear_message(client_for, openai_key, fake_providers):
    response = client_for("member").post(
        RUN,
        {
            **TOOL,
            "tool_parameters": '{"type": "object",}',
            "model": "openai/gpt-4o-mini",
            "prompt": "Hi",
        },
        headers=STREAM,
    )

    assert response.status_code == 422
    assert response.json()["fields"] == {
        "tool_parameters": [
            "The parameters are not valid JSON: Expecting property name enclosed in double "
            "quotes at line 1, column 19."
        ]
    }
    assert chat_requests(fake_providers) == []


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"tool_parameters": "[1, 2]"}, ("tool_parameters", 'whose "type" is "object"')),
        ({"tool_name": "get weather!"}, ("tool_name", "only letters, digits, _ and -")),
        ({"tool_name": ""}, ("tool_name", "Give the function a name")),
    ],
)
def test_a_function_that_cannot_be_sent_is_refused(
    client_for, openai_key, fake_providers, fields, problem
):
    response = client_for("member").post(
        RUN, {**TOOL, **fields, "model": "openai/gpt-4o-mini", "prompt": "Hi"}, headers=STREAM
    )

    assert response.status_code == 422
    name, words = problem
    assert words in response.json()["fields"][name][0]
    assert chat_requests(fake_providers) == []


def calls_panel(html: str) -> tuple[list[str], str]:
    """The call ids and the transcript of a rendered calls panel."""
    ids = re.findall(r'data-tool-call="([^"]+)"', html)
    transcript = unescape(re.search(r'name="transcript" value="([^"]*)"', html).group(1))
    return ids, transcript


@pytest.mark.parametrize(
    ("model", "prefix"),
    [("openai/gpt-4o-mini", "/openai/"), ("anthropic/claude-sonnet-4-5-20250929", "/anthropic/")],
)
def test_a_tool_round_trip_by_hand(
    client_for, openai_key, anthropic_key, fake_providers, model, prefix
):
    client = client_for("member")
    form = {**TOOL, "model": model, "prompt": "Paris", "tool_choice": "required"}

    first = events(client.post(RUN, {**form, "action": "run"}, headers=STREAM))

    assert [name for name, _ in first][-2:] == ["tool_calls", "done"]
    panel = first[-2][1]
    assert panel["count"] == 1
    ids, transcript = calls_panel(panel["html"])
    assert "data-tool-name>get_weather</span>" in panel["html"]
    assert "{\n  &quot;city&quot;: &quot;Paris&quot;\n}</pre>" in panel["html"]  # pretty JSON
    assert 'for="playground-tool-result-1">Result of get_weather</label>' in panel["html"]
    assert ">Send results</button>" in panel["html"]
    [call_id] = ids
    [offered] = provider_posts(fake_providers, prefix)
    assert offered["tools"] and offered["tool_choice"]

    final = events(
        client.post(
            RUN,
            {
                **form,
                "action": "send-results",
                "transcript": transcript,
                "tool_result": '{"temperature": 18}',
            },
            headers=STREAM,
        )
    )

    assert answer_of(final) == 'Tool said: {"temperature": 18}'
    assert [name for name, _ in final][-1] == "done" and "tool_calls" not in dict(final)
    sent = provider_posts(fake_providers, prefix)[-1]
    assert "tool_choice" not in sent  # "required" on the first turn only
    if prefix == "/openai/":
        assert sent["messages"][1]["tool_calls"][0]["id"] == call_id
        assert sent["messages"][2] == {
            "role": "tool",
            "content": '{"temperature": 18}',
            "tool_call_id": call_id,
        }
    else:
        assert sent["messages"][1]["content"][-1]["id"] == call_id  # tool_use
        [result] = sent["messages"][2]["content"]
        assert result["type"] == "tool_result" and result["tool_use_id"] == call_id
        assert result["content"] in (
            '{"temperature": 18}',
            [{"type": "text", "text": '{"temperature": 18}'}],
        )
    assert UsageRecord.objects.count() == 2


def test_without_javascript_the_round_trip_works_on_the_page(
    client_for, openai_key, fake_providers
):
    client = client_for("member")
    form = {**TOOL, "model": "openai/gpt-4o-mini", "prompt": "Oslo", "action": "run"}

    page = client.post(RUN, form).content.decode()

    assert "The model called the function" in page and "data-tool-arguments" in page
    [call_id], transcript = calls_panel(page)

    final = client.post(
        RUN, {**form, "action": "send-results", "transcript": transcript, "tool_result": "-3 C"}
    ).content.decode()

    assert "Tool said: -3 C</div>" in final and "data-tool-call=" not in final
    assert chat_requests(fake_providers)[-1]["messages"][-1]["tool_call_id"] == call_id


@pytest.mark.parametrize(
    ("transcript", "results", "words"),
    [
        (None, [], "Enter a result for each tool call."),
        (None, ["  "], "Enter a result for each tool call."),
        ("not json", ["x"], "There are no tool calls to answer"),
        ('[{"calls": [{"id": 1}]}]', ["x"], "not usable"),
    ],
)
def test_results_that_do_not_answer_the_calls_are_refused(
    client_for, openai_key, fake_providers, transcript, results, words
):
    call = {"id": "call_1", "name": "get_weather", "arguments": "{}"}
    transcript = transcript or json.dumps([{"content": "", "calls": [call]}])

    response = client_for("member").post(
        RUN,
        {
            **TOOL,
            "model": "openai/gpt-4o-mini",
            "prompt": "Hi",
            "action": "send-results",
            "transcript": transcript,
            "tool_result": results,
        },
        headers=STREAM,
    )

    assert response.status_code == 422 and words in response.json()["error"]["message"]
    assert chat_requests(fake_providers) == []


# -- who may send --------------------------------------------------------------------------------


def test_anonymous_visitors_cannot_send_images_or_results(client, openai_key, fake_providers):
    for data in (
        {"model": "openai/gpt-4o-mini", "prompt": "Hi", "image": png()},
        {**TOOL, "model": "openai/gpt-4o-mini", "prompt": "Hi", "action": "send-results"},
    ):
        response = client.post(RUN, data, headers=STREAM)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert chat_requests(fake_providers) == []


def test_the_run_still_checks_the_csrf_token(members, openai_key, fake_providers):
    """The view sets its upload handler before the body is read, so it checks CSRF itself."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(members["member"].user)

    refused = client.post(RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hi", "image": png()})

    assert refused.status_code == 403 and chat_requests(fake_providers) == []
    client.get(PAGE)
    token = client.cookies["csrftoken"].value
    allowed = client.post(
        RUN, {"model": "openai/gpt-4o-mini", "prompt": "Hi", "csrfmiddlewaretoken": token}
    )
    assert allowed.status_code == 200 and len(chat_requests(fake_providers)) == 1
