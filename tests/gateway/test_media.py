"""The media endpoints through the gateway's lean handler: images, speech, transcriptions and
rerank from every provider the catalog gives each type, in OpenAI's (and Cohere's/Jina's)
shapes; a 400 naming the field for bad input, never a 500; failover inside a pool on a 429;
a used-up plan quota refused with 429; one usage record per call, counting its units."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from invocation.models import UsageRecord
from tests.gateway.test_stream_cap import client_gone
from tests.media import media_keys, provider_key, rate_limited_pool, system_offer, wav

DOCUMENTS = ["Berlin is in Germany", "Paris is the capital of France", "France has cheese"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def keys(workspace, fake_providers):
    return media_keys(workspace, fake_providers)


def post(client, path, body, bearer):
    return client.post(path, json.dumps(body), content_type="application/json", headers=bearer)


def upload(client, bearer, *, audio=None, name="a.wav", content_type="audio/wav", **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = dict(fields)
    if audio is not False:
        data["file"] = SimpleUploadedFile(name, wav(2) if audio is None else audio, content_type)
    return client.post("/v1/audio/transcriptions", data, headers=bearer)


def error_of(response):
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.json()["error"]


# -- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "response_format", "field"),
    [
        ("openai/dall-e-3", None, "b64_json"),  # what the provider gave
        ("openai/dall-e-3", "url", "url"),  # OpenAI's own URL
        ("openai/gpt-image-1", "b64_json", "b64_json"),
        ("openai/gpt-image-1", "url", "url"),  # base64 only: a data URL
        ("stability/stable-image-core", "b64_json", "b64_json"),
        ("stability/sd3.5-large", "url", "url"),
    ],
)
def test_images_in_both_response_formats(client, bearer, keys, model, response_format, field):
    body = {"model": model, "prompt": "a red fox", "size": "1024x1024"}
    if response_format:
        body["response_format"] = response_format
    response = post(client, "/v1/images/generations", body, bearer)
    assert response.status_code == 200, response.content
    [image] = response.json()["data"]
    assert list(image) == [field]
    if field == "b64_json":
        assert base64.b64decode(image["b64_json"]).startswith(PNG_SIGNATURE)
    elif model == "openai/dall-e-3":
        assert image["url"].startswith("https://oaidalleapiprodscus.blob.core.windows.net/")
    else:
        assert image["url"].startswith("data:image/png;base64,")
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.unit, record.units) == ("images", "images", 1)


def test_several_images_from_stability_are_several_calls(client, bearer, keys, fake_providers):
    body = {"model": "stability/stable-image-ultra", "prompt": "a fox", "n": 3}
    response = post(client, "/v1/images/generations", body, bearer)
    assert len(response.json()["data"]) == 3
    assert len(fake_providers.requests_to("/stability/")) == 3
    assert UsageRecord.objects.get().units == 3


# -- speech ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "voice", "response_format", "content_type"),
    [
        ("openai/tts-1", "nova", "mp3", "audio/mpeg"),
        ("openai/gpt-4o-mini-tts", "alloy", "flac", "audio/flac"),
        ("elevenlabs/eleven_multilingual_v2", None, "mp3", "audio/mpeg"),
        ("elevenlabs/eleven_flash_v2_5", "JBFqnCBsd6RMkjVDRZzb", "opus", "audio/opus"),
    ],
)
def test_speech_streams_the_audio_in_the_requested_format(
    client, bearer, keys, model, voice, response_format, content_type
):
    body = {"model": model, "input": "Hello there, friend.", "response_format": response_format}
    if voice:
        body["voice"] = voice
    response = post(client, "/v1/audio/speech", body, bearer)
    assert response.status_code == 200
    assert response.streaming and response["Content-Type"] == content_type
    audio = b"".join(response.streaming_content)
    assert audio
    if model.startswith("openai/"):
        assert audio.endswith(f"{voice}:Hello there, friend.".encode())
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.unit, record.units) == ("speech", "characters", 20)


def test_elevenlabs_refuses_a_format_it_cannot_speak(client, bearer, keys):
    body = {"model": "elevenlabs/eleven_v3", "input": "Hi", "response_format": "flac"}
    response = post(client, "/v1/audio/speech", body, bearer)
    assert response.status_code == 400
    assert "flac" in error_of(response)["message"]


# -- transcriptions -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["openai/whisper-1", "openai/gpt-4o-transcribe"])
def test_transcriptions_answer_json_text_and_verbose_json(client, bearer, keys, model):
    as_json = upload(client, bearer, model=model, language="en")
    assert as_json.status_code == 200, as_json.content
    text = as_json.json()["text"]
    assert text.endswith("bytes of audio/wav from a.wav in en")
    as_text = upload(client, bearer, model=model, response_format="text")
    assert as_text["Content-Type"].startswith("text/plain")
    assert as_text.content.decode().strip() == text.removesuffix(" in en")
    verbose = upload(client, bearer, model=model, response_format="verbose_json").json()
    assert verbose["task"] == "transcribe" and verbose["text"] == text.removesuffix(" in en")
    if model == "openai/whisper-1":
        assert verbose["duration"] == 2.0 and verbose["language"] == "english"
        assert verbose["segments"][0]["end"] == 2.0
    records = UsageRecord.objects.all()
    assert {(r.endpoint, r.unit, r.units) for r in records} == {("transcriptions", "seconds", 2)}


@pytest.mark.parametrize(
    ("kwargs", "status", "param", "words"),
    [
        ({"audio": False}, 400, "file", "`file` is required"),
        (
            {"audio": b"<html>", "name": "page.html", "content_type": "text/html"},
            400,
            "file",
            "must be audio",
        ),
        (
            {"audio": b"\x00" * 10, "name": "a.exe", "content_type": "audio/wav"},
            400,
            "file",
            "must be audio",
        ),
        ({"response_format": "srt"}, 400, "response_format", "json, text, verbose_json"),
        ({"temperature": "0.2"}, 400, "temperature", "not supported"),
        ({"model": "openai/tts-1"}, 404, "model", "speech2text"),
    ],
)
def test_bad_uploads_get_an_error_naming_the_field(
    client, bearer, keys, kwargs, status, param, words
):
    kwargs.setdefault("model", "openai/whisper-1")
    response = upload(client, bearer, **kwargs)
    assert response.status_code == status
    error = error_of(response)
    assert error["param"] == param and words in error["message"]


def test_an_upload_over_the_cap_gets_413(client, bearer, keys, settings, fake_providers):
    settings.GATEWAY_MAX_AUDIO_BYTES = 10_000
    response = upload(client, bearer, model="openai/whisper-1", audio=wav(1))  # 16 KB
    assert response.status_code == 413 and error_of(response)["param"] == "file"
    assert not fake_providers.requests_to("/openai/")


def test_a_json_body_is_not_an_upload(client, bearer, keys):
    response = post(client, "/v1/audio/transcriptions", {"model": "openai/whisper-1"}, bearer)
    assert response.status_code == 400 and error_of(response)["param"] == "file"


def test_a_malformed_multipart_body_gets_400(client, bearer, keys):
    response = client.post(
        "/v1/audio/transcriptions",
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nabc',
        content_type="multipart/form-data; boundary=x",
        headers=bearer,
    )
    assert response.status_code == 400


# -- rerank ---------------------------------------------------------------------------------------


def test_rerank_in_cohere_and_jina_shapes(client, bearer, keys):
    body = {
        "model": "cohere/rerank-v3.5",
        "query": "capital of France",
        "documents": [DOCUMENTS[0], {"text": DOCUMENTS[1]}, DOCUMENTS[2]],
        "top_n": 2,
        "return_documents": True,
    }
    response = post(client, "/v1/rerank", body, bearer)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["model"] == "cohere/rerank-v3.5"
    assert [r["index"] for r in answer["results"]] == [1, 2]
    assert answer["results"][0]["relevance_score"] == 1.0
    assert answer["results"][0]["document"] == {"text": DOCUMENTS[1]}
    assert answer["meta"]["billed_units"]["search_units"] == 1
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.unit, record.units) == ("rerank", "searches", 1)


# -- bad input: 400 naming the field, on every endpoint ------------------------------------------

BAD = [
    ("/v1/images/generations", {"model": "openai/dall-e-3"}, "prompt"),
    ("/v1/images/generations", {"model": "openai/dall-e-3", "prompt": 5}, "prompt"),
    ("/v1/images/generations", {"model": "openai/dall-e-3", "prompt": "x", "n": 0}, "n"),
    ("/v1/images/generations", {"model": "openai/dall-e-3", "prompt": "x", "n": "2"}, "n"),
    ("/v1/images/generations", {"model": "openai/dall-e-3", "prompt": "x", "size": 5}, "size"),
    (
        "/v1/images/generations",
        {"model": "openai/dall-e-3", "prompt": "x", "response_format": "png"},
        "response_format",
    ),
    ("/v1/images/generations", {"model": "openai/dall-e-3", "prompt": "x", "style": "v"}, "style"),
    ("/v1/images/generations", {"model": 7, "prompt": "x"}, "model"),
    ("/v1/audio/speech", {"model": "openai/tts-1"}, "input"),
    ("/v1/audio/speech", {"model": "openai/tts-1", "input": "x" * 5000}, "input"),
    ("/v1/audio/speech", {"model": "openai/tts-1", "input": "x", "voice": 3}, "voice"),
    (
        "/v1/audio/speech",
        {"model": "openai/tts-1", "input": "x", "response_format": "ogg"},
        "response_format",
    ),
    ("/v1/audio/speech", {"model": "openai/tts-1", "input": "x", "speed": 2}, "speed"),
    ("/v1/rerank", {"model": "cohere/rerank-v3.5", "documents": ["a"]}, "query"),
    ("/v1/rerank", {"model": "cohere/rerank-v3.5", "query": "q"}, "documents"),
    ("/v1/rerank", {"model": "cohere/rerank-v3.5", "query": "q", "documents": []}, "documents"),
    ("/v1/rerank", {"model": "cohere/rerank-v3.5", "query": "q", "documents": [{}]}, "documents"),
    (
        "/v1/rerank",
        {"model": "cohere/rerank-v3.5", "query": "q", "documents": ["a"], "top_n": 0},
        "top_n",
    ),
    (
        "/v1/rerank",
        {"model": "cohere/rerank-v3.5", "query": "q", "documents": ["a"], "return_documents": 1},
        "return_documents",
    ),
]


@pytest.mark.parametrize(("path", "body", "param"), BAD)
def test_bad_media_requests_get_400_naming_the_field(
    client, bearer, keys, fake_providers, path, body, param
):
    response = post(client, path, body, bearer)
    assert response.status_code == 400, response.content
    assert error_of(response)["param"] == param
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize("path", ["/v1/images/generations", "/v1/audio/speech", "/v1/rerank"])
@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"model": '])
def test_bodies_that_are_no_json_object_get_400(client, bearer, keys, path, body):
    response = client.post(path, body, content_type="application/json", headers=bearer)
    assert response.status_code == 400


def test_a_model_of_another_type_is_unknown_on_each_endpoint(client, bearer, keys):
    assert (
        post(
            client, "/v1/images/generations", {"model": "openai/tts-1", "prompt": "x"}, bearer
        ).status_code
        == 404
    )
    assert (
        post(
            client,
            "/v1/rerank",
            {"model": "openai/gpt-4o", "query": "q", "documents": ["a"]},
            bearer,
        ).status_code
        == 404
    )


def test_get_is_not_allowed(client, bearer, keys):
    for path in (
        "/v1/images/generations",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/rerank",
    ):
        assert client.get(path, headers=bearer).status_code == 405


def test_without_a_key_every_media_endpoint_answers_401(client, keys):
    for path in (
        "/v1/images/generations",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/rerank",
    ):
        response = Client().post(path, "{}", content_type="application/json")
        assert response.status_code in (401, 404)  # the site's client has no lean handler
        response = client.post(path, "{}", content_type="application/json")
        assert response.status_code == 401


# -- failover and quotas, on every endpoint ------------------------------------------------------

CALLS = {
    "image": ("/v1/images/generations", {"prompt": "a fox"}),
    "tts": ("/v1/audio/speech", {"input": "Hello"}),
    "speech2text": ("/v1/audio/transcriptions", None),
    "rerank": ("/v1/rerank", {"query": "capital", "documents": ["capital", "x"]}),
}
ENDPOINT_MODELS = [
    ("openai", "dall-e-3", "image"),
    ("stability", "stable-image-core", "image"),
    ("openai", "tts-1", "tts"),
    ("elevenlabs", "eleven_multilingual_v2", "tts"),
    ("openai", "whisper-1", "speech2text"),
    ("openai", "gpt-4o-transcribe", "speech2text"),
    ("cohere", "rerank-v3.5", "rerank"),
]


def call(client, bearer, provider, model, kind):
    path, body = CALLS[kind]
    if body is None:
        return upload(client, bearer, model=f"{provider}/{model}")
    return post(client, path, {"model": f"{provider}/{model}", **body}, bearer)


@pytest.mark.parametrize(("provider", "model", "kind"), ENDPOINT_MODELS)
def test_each_endpoint_fails_over_inside_a_pool_on_a_429(
    client, bearer, workspace, members, fake_providers, pro_plan, provider, model, kind
):
    rate_limited_pool(
        workspace, fake_providers, members["owner"].user, provider, model, kind, pro_plan
    )
    response = call(client, bearer, provider, model, kind)
    assert response.status_code == 200, response.content
    if response.streaming:
        b"".join(response.streaming_content)
    assert UsageRecord.objects.get().credential_name == "spare"


@pytest.mark.parametrize(("provider", "model", "kind"), ENDPOINT_MODELS)
def test_each_endpoint_answers_429_when_every_key_is_rate_limited(
    client, bearer, workspace, fake_providers, provider, model, kind
):
    provider_key(workspace, fake_providers, provider, api_key="sk-test-ratelimited-1")
    response = call(client, bearer, provider, model, kind)
    assert response.status_code == 429
    assert error_of(response)["type"] == "rate_limit_error" and response["Retry-After"]


@pytest.mark.parametrize(("provider", "model", "kind"), ENDPOINT_MODELS)
def test_each_endpoint_refuses_a_used_up_plan_quota(
    client, bearer, workspace, fake_providers, provider, model, kind
):
    from workspaces.models import Plan
    from workspaces.plans import ensure_default_plans

    ensure_default_plans(Plan)
    system_offer(fake_providers, provider, Plan.objects.get(slug="free"), limit=1)
    first = call(client, bearer, provider, model, kind)
    assert first.status_code == 200, first.content
    if first.streaming:
        b"".join(first.streaming_content)
    refused = call(client, bearer, provider, model, kind)
    assert refused.status_code == 429
    error = error_of(refused)
    assert error["type"] == "insufficient_quota" and "quota exceeded" in error["message"]
    outcomes = [r.outcome for r in UsageRecord.objects.order_by("pk")]
    assert outcomes == ["success", "quota_exceeded"]


# -- default models: every type's points at something the gateway can call ----------------------


def test_the_default_model_of_every_type_is_callable_through_the_gateway(
    client, bearer, workspace, members, keys
):
    from providers.defaults import default_models_for, default_models_save
    from upstream.schema import MODEL_TYPES

    proposals = {
        model_type: choice.proposal.id
        for model_type, choice in default_models_for(workspace=workspace).items()
        if choice.proposal is not None
    }
    assert set(proposals) == set(MODEL_TYPES), "every type has a model to propose"
    default_models_save(workspace=workspace, choices=proposals, acting_user=members["owner"].user)
    hello = [{"role": "user", "content": "Hello"}]
    calls = {  # the media endpoints take no model: the default serves
        "llm": ("/v1/chat/completions", {"model": proposals["llm"], "messages": hello}),
        "text-embedding": ("/v1/embeddings", {"model": proposals["text-embedding"], "input": "x"}),
        "moderation": ("/v1/moderations", {"model": proposals["moderation"], "input": "x"}),
        "image": ("/v1/images/generations", {"prompt": "a fox"}),
        "tts": ("/v1/audio/speech", {"input": "Hello"}),
        "rerank": ("/v1/rerank", {"query": "q", "documents": ["q", "x"]}),
    }
    for model_type, (path, body) in calls.items():
        response = post(client, path, body, bearer)
        assert response.status_code == 200, (model_type, response.content)
        if response.streaming:
            assert b"".join(response.streaming_content)
    assert upload(client, bearer).status_code == 200  # speech2text, no model named
    served = {(r.model_type, f"{r.provider}/{r.model}") for r in UsageRecord.objects.all()}
    assert served == {(t, proposals[t]) for t in MODEL_TYPES}


def test_a_client_leaving_mid_speech_closes_the_provider_stream_and_is_refunded(
    client, bearer, workspace, fake_providers
):
    from workspaces.models import Plan
    from workspaces.plans import ensure_default_plans

    ensure_default_plans(Plan)
    system_offer(fake_providers, "openai", Plan.objects.get(slug="free"), limit=5)
    response = post(client, "/v1/audio/speech", {"model": "openai/tts-1", "input": "Hi"}, bearer)
    assert response.status_code == 200 and response.streaming
    client_gone(response)  # the client went away before reading the audio
    record = UsageRecord.objects.get()
    assert (record.outcome, record.units) == ("client_disconnected", 0)
    from system.quotas import quota_state

    assert quota_state(workspace, "openai").used == 0
