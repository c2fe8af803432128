"""Shared set-ups of the media tests (issue 22): a pool per media model whose default entry is
rate limited, so the first call fails over, and the workspace's keys of each media provider."""

from __future__ import annotations

import json
import struct

from balancing.services import ModelRef, pool_entry_add, pool_set_enabled
from tests.factories import CredentialFactory
from workspaces.config_cache import config_forget_all

# One model of each media kind and provider: (provider, model, type).
IMAGE_MODELS = [("openai", "gpt-image-1", "image"), ("stability", "stable-image-core", "image")]
SPEECH_MODELS = [("openai", "tts-1", "tts"), ("elevenlabs", "eleven_multilingual_v2", "tts")]
TRANSCRIPTION_MODELS = [
    ("openai", "whisper-1", "speech2text"),
    ("openai", "gpt-4o-transcribe", "speech2text"),
]
RERANK_MODELS = [("cohere", "rerank-v3.5", "rerank")]
MEDIA_PROVIDERS = ("openai", "stability", "elevenlabs", "cohere")


def provider_key(workspace, fake_providers, provider, *, name=None, api_key="sk-test-valid-1"):
    """The workspace's default credential of the provider, on the fake."""
    return CredentialFactory(
        workspace=workspace,
        provider=provider,
        name=name or f"{provider}-key",
        is_default=True,
        secret_data=json.dumps({"api_key": api_key}),
        config={"base_url": fake_providers.base_url(provider)},
    )


def media_keys(workspace, fake_providers) -> dict:
    """A default key for every media provider."""
    return {p: provider_key(workspace, fake_providers, p) for p in MEDIA_PROVIDERS}


def rate_limited_pool(workspace, fake_providers, owner, provider, model, model_type, pro_plan):
    """A pro workspace whose pool for the model is [Default Config (a rate-limited key), a
    working key "spare"]: the first call fails over to the spare."""
    workspace.plan = pro_plan
    workspace.save()
    provider_key(workspace, fake_providers, provider, name="busy", api_key="sk-test-ratelimited-1")
    spare = CredentialFactory(
        workspace=workspace,
        provider=provider,
        name="spare",
        is_default=False,
        secret_data=json.dumps({"api_key": "sk-test-valid-2"}),
        config={"base_url": fake_providers.base_url(provider)},
    )
    ref = ModelRef(provider, model, model_type)  # a new pool starts with Default Config
    pool_entry_add(workspace=workspace, ref=ref, credential=spare, acting_user=owner)
    pool_set_enabled(workspace=workspace, ref=ref, enabled=True, acting_user=owner)
    config_forget_all()
    return ref


def wav(seconds: float, rate: int = 8000) -> bytes:
    """A silent mono 16-bit PCM WAV file of that length."""
    data = b"\x00\x00" * int(rate * seconds)
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(data)) + data


def system_offer(fake_providers, provider: str, plan, *, limit: int, unit: str = "calls"):
    """The operator offers `provider` (one working key on the fake) and `plan` includes it with
    this quota; the workspace has no key of its own, so its calls are charged."""
    from system.models import PlanQuota
    from tests.factories import SystemCredentialFactory, SystemProviderFactory

    SystemCredentialFactory(
        system_provider=SystemProviderFactory(provider=provider),
        name=f"operator-{provider}",
        secret_data=json.dumps({"api_key": "sk-test-valid-operator"}),
        masks={"api_key": "sk-…ator"},
        config={"base_url": fake_providers.base_url(provider)},
    )
    PlanQuota.objects.update_or_create(
        plan=plan, provider=provider, defaults={"limit": limit, "unit": unit}
    )
    config_forget_all()
