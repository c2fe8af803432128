"""The Playground's media tabs: any member generates an image, hears a voice, transcribes an
upload and ranks documents, each served by the fake providers through `invocation.api` and
recorded under the member; failures show the taxonomy's message; the tabs link to each other."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from invocation.models import UsageRecord
from tests.media import media_keys, provider_key, wav

TABS = ["playground-image", "playground-speech", "playground-transcription", "playground-rerank"]


@pytest.fixture
def keys(workspace, fake_providers):
    return media_keys(workspace, fake_providers)


@pytest.mark.parametrize("name", TABS)
def test_each_tab_opens_on_a_model_of_its_type_and_links_the_others(client_for, keys, name):
    html = client_for("member").get(reverse(name)).content.decode()
    for other in ["playground", *TABS]:
        assert f'href="{reverse(other)}"' in html
    assert 'aria-current="page"' in html
    assert "<label" in html and 'enctype="multipart/form-data"' in html


def test_the_chat_tab_links_the_media_tabs(client_for, keys):
    html = client_for("member").get(reverse("playground")).content.decode()
    assert f'href="{reverse("playground-rerank")}"' in html


def test_generate_an_image(client_for, members, keys):
    response = client_for("member").post(
        reverse("playground-image"),
        {"model": "openai/gpt-image-1", "prompt": "a red fox", "size": "1024x1024"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert '<img src="data:image/png;base64,iVBOR' in html
    record = UsageRecord.objects.get()
    assert record.user_id == members["member"].user.pk and record.unit == "images"


def test_hear_a_voice(client_for, keys):
    response = client_for("member").post(
        reverse("playground-speech"),
        {"model": "elevenlabs/eleven_multilingual_v2", "text": "Hello there", "voice": ""},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert '<audio controls src="data:audio/mpeg;base64,SUQz' in html  # "ID3"
    assert UsageRecord.objects.get().units == len("Hello there")


def test_transcribe_an_upload(client_for, keys):
    audio = SimpleUploadedFile("memo.wav", wav(2), "audio/wav")
    response = client_for("member").post(
        reverse("playground-transcription"),
        {"model": "openai/whisper-1", "file": audio, "language": "en"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "bytes of audio/wav from memo.wav in en" in html
    assert UsageRecord.objects.get().units == 2


def test_rank_documents(client_for, keys):
    response = client_for("member").post(
        reverse("playground-rerank"),
        {
            "model": "cohere/rerank-v3.5",
            "query": "capital of France",
            "documents": "Berlin is in Germany\nParis is the capital of France\n\n",
        },
    )
    assert response.status_code == 200
    html = response.content.decode().split('data-result="ranked"', 1)[1]
    first = html.index("Paris is the capital of France")
    assert first < html.index("Berlin is in Germany")
    assert "1.000" in html


def test_a_provider_failure_shows_its_message(client_for, workspace, fake_providers):
    provider_key(workspace, fake_providers, "openai", api_key="sk-test-ratelimited-1")
    response = client_for("member").post(
        reverse("playground-speech"), {"model": "openai/tts-1", "text": "Hi", "voice": ""}
    )
    assert response.status_code == 429
    assert 'role="alert"' in response.content.decode()


def test_an_invalid_form_is_shown_again(client_for, keys):
    response = client_for("member").post(reverse("playground-rerank"), {"model": "x"})
    assert response.status_code == 422
    assert not UsageRecord.objects.exists()


def test_another_workspace_cannot_use_this_workspaces_models(client_for, keys, other_workspace):
    from django.test import Client

    client = Client()
    client.force_login(other_workspace["admin"].user)
    response = client.post(
        reverse("playground-rerank"),
        {"model": "cohere/rerank-v3.5", "query": "q", "documents": "a"},
    )
    assert response.status_code in (200, 422)
    assert not UsageRecord.objects.filter(workspace__slug="acme").exists()
