"""The official openai Python SDK, unchanged, against the media endpoints of the gateway in the
production server process: `images.generate` (both response formats, OpenAI and Stability),
`audio.speech.create` streamed to a file (OpenAI and ElevenLabs), `audio.transcriptions.create`
(json, text, verbose_json), and rerank with a plain httpx client (the SDK has no rerank). Each
call leaves one usage record with its units (written off the request path, so waited for)."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest

from invocation.models import UsageRecord
from tests.media import media_keys, wav
from tests.production_server import eventually

pytestmark = pytest.mark.django_db(transaction=True)  # the server sees committed rows only


@pytest.fixture
def keys(workspace, fake_providers):
    return media_keys(workspace, fake_providers)


@pytest.fixture
def sdk(server, redis_url, api_key, keys):
    client = openai.OpenAI(
        api_key=api_key.secret, base_url=f"{server.url}/v1", max_retries=0, timeout=10
    )
    yield client
    client.close()


def last_record() -> UsageRecord:
    eventually(lambda: UsageRecord.objects.exists(), timeout=5, what="a usage record")
    return UsageRecord.objects.order_by("-pk").first()


@pytest.mark.parametrize(
    ("model", "response_format"),
    [
        ("openai/gpt-image-1", "b64_json"),
        ("openai/dall-e-3", "url"),
        ("stability/stable-image-core", "b64_json"),
        ("stability/stable-image-ultra", "url"),
    ],
)
def test_images_generate(sdk, model, response_format):
    result = sdk.images.generate(
        model=model, prompt="a red fox in the snow", response_format=response_format, n=1
    )
    [image] = result.data
    if response_format == "b64_json":
        assert base64.b64decode(image.b64_json).startswith(b"\x89PNG")
    else:
        assert image.url.startswith(("https://", "data:image/png;base64,"))
    record = last_record()
    assert (record.endpoint, record.unit, record.units) == ("images", "images", 1)


@pytest.mark.parametrize(
    ("model", "voice"), [("openai/tts-1", "nova"), ("elevenlabs/eleven_multilingual_v2", "")]
)
def test_audio_speech_streamed_to_a_file(sdk, tmp_path, model, voice):
    target = tmp_path / "speech.mp3"
    with sdk.audio.speech.with_streaming_response.create(
        model=model, voice=voice, input="Hello from the gateway, in a voice.", response_format="mp3"
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        response.stream_to_file(target)
    audio = target.read_bytes()
    assert audio.startswith(b"ID3")
    if model.startswith("openai/"):
        assert audio.endswith(b"nova:Hello from the gateway, in a voice.")
    record = last_record()
    assert (record.endpoint, record.unit, record.units) == ("speech", "characters", 35)
    assert record.outcome == "success"


def test_audio_transcriptions_in_each_format(sdk, tmp_path):
    path = tmp_path / "meeting.wav"
    path.write_bytes(wav(3))
    with path.open("rb") as audio:
        result = sdk.audio.transcriptions.create(model="openai/whisper-1", file=audio)
    assert result.text.endswith("bytes of audio/x-wav from meeting.wav") or result.text.endswith(
        "bytes of audio/wav from meeting.wav"
    )
    with path.open("rb") as audio:
        text = sdk.audio.transcriptions.create(
            model="openai/gpt-4o-transcribe", file=audio, response_format="text"
        )
    assert isinstance(text, str) and "from meeting.wav" in text
    with path.open("rb") as audio:
        verbose = sdk.audio.transcriptions.create(
            model="openai/whisper-1", file=audio, response_format="verbose_json", language="en"
        )
    assert verbose.duration == 3.0 and verbose.language == "english"
    assert verbose.segments[0].end == 3.0
    eventually(lambda: UsageRecord.objects.count() == 3, timeout=5, what="3 usage records")
    assert {(r.unit, r.units) for r in UsageRecord.objects.all()} == {("seconds", 3)}


def test_sdk_errors_name_the_field(sdk):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model="openai/dall-e-3", prompt="x", response_format="png")  # type: ignore[arg-type]
    assert caught.value.body["param"] == "response_format"
    with pytest.raises(openai.NotFoundError):
        sdk.audio.speech.create(model="openai/whisper-1", voice="alloy", input="x")


def test_rerank_with_httpx(server, redis_url, api_key, keys):
    with httpx.Client(base_url=f"{server.url}/v1", timeout=10) as client:
        response = client.post(
            "/rerank",
            headers={"Authorization": f"Bearer {api_key.secret}"},
            json={
                "model": "cohere/rerank-v3.5",
                "query": "What is the capital of France?",
                "documents": ["Berlin is in Germany.", "Paris is the capital of France."],
                "top_n": 1,
                "return_documents": True,
            },
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["results"] == [
            {
                "index": 1,
                "relevance_score": answer["results"][0]["relevance_score"],
                "document": {"text": "Paris is the capital of France."},
            }
        ]
        assert answer["results"][0]["relevance_score"] > 0.5
        refused = client.post(
            "/rerank",
            headers={"Authorization": f"Bearer {api_key.secret}"},
            json={"model": "cohere/rerank-v3.5", "query": "q", "documents": "not a list"},
        )
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "documents"
    record = last_record()
    assert (record.endpoint, record.unit, record.units) == ("rerank", "searches", 1)
