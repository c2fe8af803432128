"""Plan quotas charge media calls by the rule in invocation/metering.py: a calls quota 1 per
call, a credits quota the model's credits per billing unit (an image, 1,000 characters started,
a minute of audio started, a search), a tokens quota the reported tokens or else the billing
units; a quota used up refuses the call before any provider is asked."""

from __future__ import annotations

import pytest

from invocation import api
from invocation.metering import billing_units
from invocation.models import UsageRecord
from system.quotas import quota_state
from tests.factories import ModelCreditFactory
from tests.media import system_offer, wav
from upstream.errors import QuotaExceeded

DOCUMENTS = ["capital of France", "Berlin"]


def image(workspace, n=2):
    return api.generate_image(workspace, "openai/gpt-image-1", "a fox", n=n)


def speech(workspace, characters=2500):
    return api.speak(workspace, "openai/tts-1", "a" * characters).read()


def transcription(workspace, seconds=61, model="openai/whisper-1"):
    return api.transcribe(workspace, model, wav(seconds), filename="a.wav")


def rerank(workspace, documents=DOCUMENTS):
    return api.rerank(workspace, "cohere/rerank-v3.5", "capital", documents)


CALLS = {"image": image, "speech": speech, "transcription": transcription, "rerank": rerank}
PROVIDER = {"image": "openai", "speech": "openai", "transcription": "openai", "rerank": "cohere"}


@pytest.mark.parametrize(
    ("unit", "amount", "expected"),
    [
        ("images", 3, 3),
        ("characters", 1, 1),
        ("characters", 1000, 1),
        ("characters", 1001, 2),
        ("seconds", 59.5, 1),
        ("seconds", 61, 2),
        ("searches", 2, 2),
        ("seconds", 0, 1),
    ],
)
def test_billing_units_count_a_started_unit_whole(unit, amount, expected):
    assert billing_units(unit, amount) == expected


@pytest.mark.parametrize("kind", CALLS)
def test_a_calls_quota_charges_one_per_call_and_refuses_when_used_up(
    workspace, fake_providers, free_plan, kind
):
    system_offer(fake_providers, PROVIDER[kind], free_plan, limit=1)
    CALLS[kind](workspace)
    assert quota_state(workspace, PROVIDER[kind]).used == 1
    with pytest.raises(QuotaExceeded):
        CALLS[kind](workspace)
    assert [r.outcome for r in UsageRecord.objects.order_by("pk")] == [
        "success",
        "quota_exceeded",
    ]
    assert len(fake_providers.requests_to(f"/{PROVIDER[kind]}/")) == 1


@pytest.mark.parametrize(
    ("kind", "model", "credits", "expected"),
    [
        ("image", "gpt-image-1", 4, 8),  # 2 images
        ("speech", "tts-1", 2, 6),  # 2,500 characters: 3 started thousands
        ("transcription", "whisper-1", 3, 6),  # 61 s: 2 started minutes
        ("rerank", "rerank-v3.5", 5, 5),  # 1 search
    ],
)
def test_a_credits_quota_charges_the_models_credits_per_billing_unit(
    workspace, fake_providers, free_plan, kind, model, credits, expected
):
    system_offer(fake_providers, PROVIDER[kind], free_plan, limit=1000, unit="credits")
    ModelCreditFactory(provider=PROVIDER[kind], model_name=model, credits=credits)
    CALLS[kind](workspace)
    assert quota_state(workspace, PROVIDER[kind]).used == expected


def test_a_transcription_is_settled_with_the_audio_the_provider_reports(
    workspace, fake_providers, free_plan
):
    """The upload is no WAV, so one minute is reserved; whisper reports 3 minutes' worth."""
    system_offer(fake_providers, "openai", free_plan, limit=1000, unit="credits")
    ModelCreditFactory(model_name="whisper-1", credits=1)
    api.transcribe(workspace, "openai/whisper-1", b"\x01" * 16000 * 150, filename="a.mp3")
    assert quota_state(workspace, "openai").used == 3
    assert UsageRecord.objects.get().units == 150


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("image", 2),  # no tokens reported: 2 images
        ("speech", 3),  # 3 started thousands of characters
        ("transcription", 2),  # whisper reports seconds, not tokens: 2 minutes
        ("rerank", 1),
    ],
)
def test_a_tokens_quota_charges_billing_units_when_no_tokens_are_reported(
    workspace, fake_providers, free_plan, kind, expected
):
    system_offer(fake_providers, PROVIDER[kind], free_plan, limit=1000, unit="tokens")
    CALLS[kind](workspace)
    assert quota_state(workspace, PROVIDER[kind]).used == expected


def test_a_tokens_quota_charges_reported_tokens(workspace, fake_providers, free_plan):
    system_offer(fake_providers, "openai", free_plan, limit=1000, unit="tokens")
    served = transcription(workspace, seconds=2, model="openai/gpt-4o-transcribe")
    assert quota_state(workspace, "openai").used == served.value.usage.total_tokens > 2


def test_a_failed_media_call_is_refunded(workspace, fake_providers, free_plan):
    system_offer(fake_providers, "openai", free_plan, limit=1000, unit="credits")
    ModelCreditFactory(model_name="tts-1", credits=7)
    with pytest.raises(api.UnknownModel):
        api.speak(workspace, "openai/no-such-voice-model", "x")
    speech_stream = api.speak(workspace, "openai/tts-1", "a" * 10)
    speech_stream.close()  # the client left before the audio: nothing charged
    assert quota_state(workspace, "openai").used == 0
