"""The Python API's media calls against the fake providers on loopback: images, streamed
speech, transcriptions and rerank, each resolved and enabled like chat, failing over inside a
pool on a 429, refused for bad input before any provider is asked, and leaving one usage
record that counts the call's media units."""

from __future__ import annotations

import pytest

from invocation import api
from invocation.models import UsageRecord
from providers.selectors import ModelUnavailable
from tests.media import (
    IMAGE_MODELS,
    RERANK_MODELS,
    SPEECH_MODELS,
    TRANSCRIPTION_MODELS,
    media_keys,
    rate_limited_pool,
    wav,
)
from upstream.errors import RateLimited

DOCUMENTS = ["Berlin is in Germany", "Paris is the capital of France", "France has cheese"]


@pytest.fixture
def keys(workspace, fake_providers):
    return media_keys(workspace, fake_providers)


def call(kind: str, workspace, model_id: str):
    """One call of the kind, returning what the usage record should count."""
    if kind == "image":
        served = api.generate_image(workspace, model_id, "a red fox", n=2)
        assert len(served.value.images) == 2
        return "images", 2
    if kind == "tts":
        speech = api.speak(workspace, model_id, "Hello there, friend.")
        assert speech.read()
        return "characters", len("Hello there, friend.")
    if kind == "speech2text":
        served = api.transcribe(workspace, model_id, wav(2.5), filename="a.wav")
        assert "bytes of audio/mpeg from a.wav" in served.value.text
        return "seconds", 3
    served = api.rerank(workspace, model_id, "capital of France", DOCUMENTS, top_n=2)
    assert [r.index for r in served.value.results] == [1, 2]
    return "searches", 1


MODELS = IMAGE_MODELS + SPEECH_MODELS + TRANSCRIPTION_MODELS + RERANK_MODELS


@pytest.mark.parametrize(("provider", "model", "kind"), MODELS)
def test_each_media_call_is_served_and_recorded_with_its_units(
    workspace, keys, provider, model, kind
):
    unit, units = call(kind, workspace, f"{provider}/{model}")
    record = UsageRecord.objects.get()
    assert (record.provider, record.model, record.model_type) == (provider, model, kind)
    assert (record.unit, record.units, record.outcome) == (unit, units, "success")
    assert record.credential_name == f"{provider}-key"


@pytest.mark.parametrize(("provider", "model", "kind"), MODELS)
def test_a_rate_limited_entry_fails_over_to_the_next(
    workspace, members, fake_providers, pro_plan, provider, model, kind
):
    rate_limited_pool(
        workspace, fake_providers, members["owner"].user, provider, model, kind, pro_plan
    )
    call(kind, workspace, f"{provider}/{model}")
    assert UsageRecord.objects.get().credential_name == "spare"


@pytest.mark.parametrize(("provider", "model", "kind"), MODELS)
def test_a_rate_limit_everywhere_is_recorded_as_such(
    workspace, fake_providers, provider, model, kind
):
    from tests.media import provider_key

    provider_key(workspace, fake_providers, provider, api_key="sk-test-ratelimited-1")
    with pytest.raises(RateLimited):
        call(kind, workspace, f"{provider}/{model}")
    record = UsageRecord.objects.get()
    assert (record.outcome, record.units) == ("rate_limited", 0)


def test_a_model_of_another_type_is_unknown(workspace, keys):
    with pytest.raises(api.UnknownModel):
        api.generate_image(workspace, "openai/tts-1", "a fox")
    with pytest.raises(api.UnknownModel):
        api.rerank(workspace, "openai/gpt-4o", "q", ["a"])


def test_a_disabled_model_is_refused(workspace, keys, members):
    from providers.services import model_set_enabled

    model_set_enabled(
        workspace=workspace,
        provider_key="openai",
        model_name="tts-1",
        model_type="tts",
        enabled=False,
        acting_user=members["owner"].user,
    )
    with pytest.raises(ModelUnavailable):
        api.speak(workspace, "openai/tts-1", "Hello")


@pytest.mark.parametrize(
    ("function", "args", "field"),
    [
        (api.generate_image, ("openai/dall-e-3", ""), "prompt"),
        (api.generate_image, ("openai/dall-e-3", "x"), "n"),
        (api.speak, ("openai/tts-1", "  "), "input"),
        (api.speak, ("openai/tts-1", "x" * 5000), "input"),
        (api.transcribe, ("openai/whisper-1", b""), "file"),
        (api.rerank, ("cohere/rerank-v3.5", "", ["a"]), "query"),
        (api.rerank, ("cohere/rerank-v3.5", "q", []), "documents"),
        (api.rerank, ("cohere/rerank-v3.5", "q", ["a", 3]), "documents"),
    ],
)
def test_bad_input_is_refused_naming_the_field_before_any_call(
    workspace, keys, fake_providers, function, args, field
):
    kwargs = {"n": 0} if field == "n" else {}
    with pytest.raises(api.InvalidInput) as refused:
        function(workspace, *args, **kwargs)
    assert refused.value.field == field
    assert not UsageRecord.objects.exists()


def test_rerank_top_n_must_be_a_positive_integer(workspace, keys):
    with pytest.raises(api.InvalidInput) as refused:
        api.rerank(workspace, "cohere/rerank-v3.5", "q", ["a"], top_n=0)
    assert refused.value.field == "top_n"


def test_without_a_model_the_workspace_default_serves(workspace, keys, members):
    from providers.defaults import default_model_set

    with pytest.raises(api.UnknownModel):
        api.rerank(workspace, "", "q", ["a"])
    default_model_set(
        workspace=workspace,
        model_type="rerank",
        model_id="cohere/rerank-v3.5",
        acting_user=members["owner"].user,
    )
    served = api.rerank(workspace, "", "capital", ["capital", "x"])
    assert served.value.results[0].index == 0


def test_a_speech_stream_left_unread_is_recorded_as_a_disconnect(workspace, keys):
    speech = api.speak(workspace, "openai/tts-1", "Hello")
    speech.close()
    record = UsageRecord.objects.get()
    assert record.outcome == "client_disconnected" and record.endpoint == "speech"


def test_gpt4o_transcriptions_count_seconds_from_the_wav_header(workspace, keys):
    served = api.transcribe(workspace, "openai/gpt-4o-transcribe", wav(61), filename="a.wav")
    assert served.value.usage is not None
    record = UsageRecord.objects.get()
    assert (record.unit, record.units) == ("seconds", 61)
    assert record.prompt_tokens == served.value.usage.prompt_tokens
