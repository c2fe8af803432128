"""A canary secret in every kind of secret field, then everything the app emits searched for it.

The canary is stored, through the real paths and validated against the fake providers, as: a
workspace credential (provider level and custom-model level), the typed secrets of pending and
failed validations, a system provider credential (the Django admin's validated form), and an
API key's one-time secret (created on the page, which is the only place it may ever appear),
and an invitation link's token (which only the invited address's email may carry).

Then searched: every page and HTMX fragment of the URL sweep (tests/test_access.py) as owner
and member, the Django admin's changelist, add and change pages of every registered model, the
gateway's JSON answers (success and errors), every log record of the test at DEBUG level, every
Celery message published and the validation task's result, `export_providers` output, and the
usage CSV. Besides the secret itself, its hidden middle (what a mask never shows) and base64
spellings must appear nowhere.
"""

from __future__ import annotations

import base64
import json
import logging
from io import StringIO

import pytest
from celery.signals import before_task_publish
from django.contrib import admin
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from credentials.models import Credential, PendingValidation
from tests.factories import SystemProviderFactory, UserFactory
from tests.gateway_client import GatewayClient
from tests.media import wav
from tests.test_access import (
    objects,  # noqa: F401 - a fixture
    url_for,
)
from tests.test_permission_sweep import GATEWAY, METHODS, REQUEST_DATA

CANARY = "sk-test-valid-CANARY-4f9c2e71"
CANARY_BAD = "sk-test-invalid-CANARY-4f9c2e71"  # a failed attempt keeps it for a retry
HX = {"HX-Request": "true"}
MASK = "sk-…2e71"  # what pages show of the canary


def spellings(secret: str, *, shown_prefix: int, shown_suffix: int) -> set[str]:
    """The secret, its middle (what masks never show) and their base64 forms (standard and
    URL-safe, at each of the three alignments, without the last, context-dependent block)."""
    middle = secret[shown_prefix : len(secret) - shown_suffix]
    found = {secret, middle}
    for text in (secret, middle):
        for offset in range(3):
            raw = text[offset:].encode()
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                found.add(encode(raw).decode()[:-4])
    return {s for s in found if len(s) >= 8}


# A mask shows the first 3 and last 4 characters (credentials.models.mask_secret).
CANARY_SPELLINGS = (
    spellings(CANARY, shown_prefix=3, shown_suffix=4)
    | spellings(CANARY_BAD, shown_prefix=3, shown_suffix=4)
    | {"CANARY-4f9c"}
)


class Canaries:
    """What the setup stored, and the API key secret shown once."""

    def __init__(self):
        self.api_key_secret = ""
        self.forbidden: set[str] = set(CANARY_SPELLINGS)
        self.objects: dict = {}  # the canary's objects, in the URL sweep's keys
        self.sweep_objects: dict = {}  # the URL sweep's own objects

    def leaks(self, text: str) -> list[str]:
        return sorted(s for s in self.forbidden if s in text)


def response_text(response) -> str:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    headers = json.dumps(dict(response.headers))
    return body.decode(errors="replace") + headers


@pytest.fixture
def published():
    """Every Celery message published during the test."""
    messages = []

    def record(sender=None, body=None, headers=None, **kwargs):
        messages.append({"task": sender, "body": body, "headers": headers})

    before_task_publish.connect(record, weak=False)
    yield messages
    before_task_publish.disconnect(record)


@pytest.fixture
def operator(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def canaries(
    caplog,
    objects,  # noqa: F811 - test_access's fixture
    client_for,
    workspace,
    members,
    fake_providers,
    queued_only,
    published,
):
    """Store the canary everywhere a secret goes, through the app's own paths."""
    from credentials import services
    from credentials.tasks import validate_credential
    from system.models import SystemCredential

    caplog.set_level(logging.DEBUG)
    found = Canaries()
    owner = client_for("owner")
    base_url = fake_providers.base_url("openai")

    # Provider-level credential, and a failed attempt (its typed secret kept for a retry).
    create = reverse("credential-create", args=["openai"])
    for name, key in (("Canary", CANARY), ("Canary bad", CANARY_BAD)):
        response = owner.post(
            create, {"name": name, "api_key": key, "base_url": base_url}, headers=HX
        )
        assert response.status_code < 400, response.content
    # Custom-model-level credential.
    response = owner.post(
        reverse("custom-model-create", args=["openai"]),
        {
            "model_name": "canary-ft",
            "model_type": "llm",
            "name": "Canary custom",
            "api_key": CANARY,
            "base_url": base_url,
        },
        headers=HX,
    )
    assert response.status_code < 400, response.content
    # The worker's side: each published message run as a worker runs it.
    for message in list(published):
        if message["task"] == validate_credential.name:
            args, kwargs, _ = message["body"]
            result = validate_credential.apply(args=args, kwargs=kwargs)
            assert result.successful() and result.result is None
    # Typed secrets of a validation still queued (never run).
    queued = services.validation_request_create(
        workspace=workspace,
        provider_key="openai",
        acting_user=members["owner"].user,
        values={"api_key": CANARY, "base_url": base_url},
        name="Canary queued",
    )
    credential = Credential.objects.get(name="Canary")
    custom_credential = Credential.objects.get(name="Canary custom")
    assert credential.secrets == {"api_key": CANARY}  # really stored, really valid
    assert custom_credential.secrets == {"api_key": CANARY}
    assert PendingValidation.objects.get(name="Canary bad").status == "failed"
    # The canary credential serves calls (the default of its scope).
    owner.post(reverse("credential-default", args=["openai", credential.pk]), headers=HX)
    owner.post(reverse("credential-check", args=["openai", credential.pk]), headers=HX)

    # A system provider credential, through the admin's validating form.
    operator = Client()
    operator.force_login(UserFactory(is_staff=True, is_superuser=True))
    system = SystemProviderFactory()
    response = operator.post(
        reverse("admin:system_systemcredential_add"),
        {
            "system_provider": system.pk,
            "name": "Canary system",
            "enabled": "on",
            "value_api_key": CANARY,
            "value_base_url": base_url,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert SystemCredential.objects.get(name="Canary system").secrets == {"api_key": CANARY}

    # An API key, created on its page: the one answer allowed to show the secret.
    response = client_for("member").post(reverse("api-key-create"), {"name": "canary"}, headers=HX)
    found.api_key_secret = response.content.decode().split('id="new-api-key" value="')[1]
    found.api_key_secret = found.api_key_secret.split('"')[0]
    assert found.api_key_secret.startswith("mck_")
    # The page lists the key by its prefix (mck_ + 6 characters); the rest is never shown.
    found.forbidden |= spellings(found.api_key_secret, shown_prefix=10, shown_suffix=0)

    # An invitation: its link goes to the invited address's mailbox and nowhere else.
    response = owner.post(
        reverse("member-create"), {"email": "canary-invitee@acme.test", "role": "admin"}, headers=HX
    )
    assert response.status_code == 204, response.content
    [invitation_email] = [m for m in mail.outbox if m.to == ["canary-invitee@acme.test"]]
    token = invitation_email.body.split("/invitation/")[1].split("/")[0]
    found.forbidden |= {token, token.rsplit(":", 1)[-1]}

    # An environment pins the canary credentials, for the provider and for the custom model,
    # and has its own pool of the canary's model (the Environments page and its pool page).
    from balancing.services import ModelRef, pin_set
    from tests.factories import PoolEntryFactory, PoolFactory

    canary_model = ModelRef("openai", "canary-ft", "llm", True)
    for ref, pinned in ((None, credential), (canary_model, custom_credential)):
        pin_set(
            environment=objects["environment"],
            provider="openai",
            credential=pinned,
            acting_user=members["owner"].user,
            ref=ref,
        )
    # (Written directly: the workspace's Free plan refuses load balancing through the service.)
    PoolEntryFactory(
        pool=PoolFactory(
            workspace=workspace,
            environment=objects["environment"],
            model_name="canary-ft",
            custom=True,
        ),
        credential=custom_credential,
    )

    found.sweep_objects = objects
    pendings = PendingValidation.objects.filter(workspace=workspace).order_by("created_at")
    found.objects = {
        **objects,
        "credential": credential,
        "custom_credential": custom_credential,
        "pending": queued,
        "pendings": list(pendings),
        "custom_model": custom_credential_model(workspace),
    }
    return found


def custom_credential_model(workspace):
    from credentials.models import CustomModel

    return CustomModel.objects.get(workspace=workspace, name="canary-ft")


def sweep_urls(found: Canaries) -> list[tuple[str, str, dict]]:
    """(name, url, data) for every GET of the URL sweep, with the canary's objects and with
    the sweep's own; plus every validation's page."""
    urls = []
    for addressed in (found.objects, found.sweep_objects):
        for name in sorted(METHODS):
            if "GET" not in METHODS[name] or name in GATEWAY:
                continue
            data = REQUEST_DATA.get(name, lambda _: {})(addressed)
            urls.append((name, url_for(name, addressed), data))
    for pending in found.objects["pendings"]:
        urls.append(("validation-detail", reverse("validation-detail", args=[pending.pk]), {}))
    credential = found.objects["credential"]
    custom = found.objects["custom_credential"]
    for cred in (credential, custom):
        for name in ("credential-update", "credential-delete"):
            urls.append((name, reverse(name, args=["openai", cred.pk]), {}))
    urls.append(("pool-detail", reverse("pool-detail", args=["openai"]), POOL_CANARY))
    environment = found.objects["environment"].pk
    urls.append(
        (
            "pool-detail",
            reverse("pool-detail", args=["openai"]),
            {**POOL_CANARY, "env": environment},
        )
    )
    urls.append(("custom-credential-list", reverse("custom-credential-list", args=["openai"]), {}))
    return urls


POOL_CANARY = {"model": "canary-ft", "type": "llm", "custom": "1"}
# Fragments each page serves by HX-Target (the `request.htmx.target` branches of the views).
PAGE_TARGETS = {
    "provider-list": ["provider-grid"],
    "provider-detail": ["model-list", "provider-status", "custom-models"],
    "custom-model-detail": ["model-status"],
    "custom-credential-list": ["custom-credentials"],
    "member-list": ["member-table"],
    "pool-detail": ["pool-entries", "pool-live", "pool-header"],
    "api-key-list": ["api-key-table"],
    "usage": ["usage-content"],
    "credential-list": ["credential-list"],
    "default-models": ["default-models"],
    "environment-list": ["environment-table", "pin-table"],
}


def test_no_page_or_fragment_shows_a_secret(canaries, client_for):
    shown = {"owner": 0, "member": 0}
    for role in ("owner", "member"):
        client = client_for(role)
        for name, url, data in sweep_urls(canaries):
            targeted = PAGE_TARGETS.get(name, [])
            for headers in ({}, HX, *({**HX, "HX-Target": t} for t in targeted)):
                response = client.get(url, data, headers=headers)
                assert response.status_code < 500, (role, name, url)
                text = response_text(response)
                assert not canaries.leaks(text), (role, name, url, headers)
                shown[role] += response.status_code == 200 and MASK in text
    # The canary's rows were on the pages searched, masked.
    assert shown["owner"] > 20 and shown["member"] > 5, shown


def test_post_answers_show_no_secret(canaries, client_for):
    """The POST-only views' answers (toasts, rows, fragments), for the canary's objects."""
    client = client_for("owner")
    credential = canaries.objects["credential"]
    posts = [
        (reverse("credential-check", args=["openai", credential.pk]), {}),
        (reverse("credential-check-all", args=["openai"]), {}),
        (reverse("credential-default", args=["openai", credential.pk]), {}),
        (
            reverse("credential-update", args=["openai", credential.pk]),
            {"name": "Canary", "api_key": "", "base_url": "http://127.0.0.1:9/v1"},
        ),
        (reverse("pool-switch", args=["openai"]), {**POOL_CANARY, "enabled": "true"}),
        (reverse("pool-entry-create", args=["openai"]), {**POOL_CANARY, "count": 1}),
        (reverse("model-toggle", args=["openai"]), {"model_name": "canary-ft", "enabled": "1"}),
        (reverse("provider-preference", args=["openai"]), {"preferred": "system"}),
        (reverse("playground-run"), {"model": "openai/gpt-4o-mini", "prompt": "hi"}),
        (reverse("model-refresh", args=["openai"]), {"credential": credential.pk}),
        (reverse("api-key-create"), {"name": "another"}),
        (
            reverse("environment-pin", args=[canaries.objects["environment"].pk]),
            {"provider": "openai", "credential": credential.pk},
        ),
        (
            reverse("environment-pin-create"),
            {
                "environment": canaries.objects["environment"].pk,
                "model": "openai:llm:p:gpt-4o-mini",
                "credential": credential.pk,
            },
        ),
        (
            reverse("environment-pin", args=[canaries.objects["environment"].pk]),
            {"provider": "openai", "credential": ""},
        ),
    ]
    for url, data in posts:
        for headers in (HX, {}):
            response = client.post(url, data, headers=headers)
            assert response.status_code < 500, url
            text = response_text(response)
            if url == reverse("api-key-create"):
                # The answer shows the new key's own secret, once; never the earlier one.
                assert canaries.api_key_secret[10:] not in text
                assert not [s for s in CANARY_SPELLINGS if s in text], (url, headers)
                continue
            assert not canaries.leaks(text), (url, headers)


def test_the_api_key_secret_is_shown_once(canaries, client_for):
    for role in ("member", "owner"):
        client = client_for(role)
        for url in (reverse("api-key-list"), reverse("api-key-create"), reverse("audit-log")):
            text = response_text(client.get(url, headers=HX)) + response_text(client.get(url))
            assert canaries.api_key_secret not in text, (role, url)
            assert canaries.api_key_secret[10:] not in text, (role, url)
    from api_keys.models import ApiKey

    rows = json.dumps(list(ApiKey.objects.values()), default=str)
    assert not canaries.leaks(rows)


def test_no_admin_page_shows_a_secret(canaries, operator):
    assert admin.site._registry, "models are registered with the admin"
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        pages = [reverse("admin:{}_{}_changelist".format(*info))]
        if model_admin.has_add_permission(_request(operator)):
            pages.append(reverse("admin:{}_{}_add".format(*info)))
        for pk in model.objects.values_list("pk", flat=True)[:20]:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[pk]))
        for page in pages:
            response = operator.get(page)
            assert response.status_code == 200, page
            assert not canaries.leaks(response_text(response)), page


def _request(client):
    from django.test import RequestFactory

    from workspaces.models import User

    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(pk=client.session["_auth_user_id"])
    return request


def test_gateway_answers_show_no_secret(canaries):
    client = GatewayClient()
    bearer = {"Authorization": f"Bearer {canaries.api_key_secret}"}
    calls = [
        ("get", "/v1/models", None),
        ("post", "/v1/chat/completions", {"model": "openai/gpt-4o-mini", "messages": HELLO}),
        ("post", "/v1/chat/completions", {"model": "canary-ft", "messages": HELLO}),
        ("post", "/v1/chat/completions", {"model": "openai/gpt-4o", "messages": HELLO}),
        (
            "post",
            "/v1/chat/completions",
            {"model": "openai/gpt-4o-mini", "messages": HELLO, "stream": True},
        ),
        ("post", "/v1/chat/completions", {"model": "no/such-model", "messages": HELLO}),
        *[("post", "/v1/chat/completions", body) for body in CHAT_SURFACE],
        ("post", "/v1/chat/completions", {"model": "openai/gpt-4o-mini"}),
        ("post", "/v1/embeddings", {"model": "openai/text-embedding-3-small", "input": "x"}),
        ("post", "/v1/moderations", {"model": "openai/omni-moderation-latest", "input": "x"}),
        *[("post", path, body) for path, body in MEDIA],
        ("get", "/v1/nothing", None),
    ]
    statuses = set()
    for headers in (bearer, {"Authorization": f"Bearer {CANARY}"}, {}):
        for fields in ({"model": "openai/whisper-1"}, {"model": "openai/tts-1"}, {}):
            audio = SimpleUploadedFile("a.wav", wav(1), "audio/wav")
            response = client.post(
                "/v1/audio/transcriptions", {**fields, "file": audio}, headers=headers
            )
            statuses.add(response.status_code)
            assert response.status_code < 500, response.content
            assert not canaries.leaks(response_text(response)), fields
    for method, path, body in calls:
        for headers in (bearer, {"Authorization": f"Bearer {CANARY}"}, {}):
            if body is None:
                response = getattr(client, method)(path, headers=headers)
            else:
                response = client.post(
                    path, json.dumps(body), content_type="application/json", headers=headers
                )
            statuses.add(response.status_code)
            assert response.status_code < 500, (path, body, response.content)
            assert not canaries.leaks(response_text(response)), (path, body)
    assert 200 in statuses and statuses - {200}, "both answers and errors were searched"


HELLO = [{"role": "user", "content": "Hello"}]
# The media endpoints (issue 22) on the canary's OpenAI key: answers, the provider's refusals
# and the gateway's own, and a provider (Cohere) the workspace has no key for.
MEDIA = [
    ("/v1/images/generations", {"model": "openai/dall-e-3", "prompt": "a fox"}),
    (
        "/v1/images/generations",
        {"model": "openai/gpt-image-1", "prompt": "a fox", "response_format": "url"},
    ),
    ("/v1/images/generations", {"model": "openai/dall-e-3", "prompt": "a fox", "n": 2}),
    ("/v1/images/generations", {"model": "openai/dall-e-3"}),
    ("/v1/audio/speech", {"model": "openai/tts-1", "input": "Hello", "voice": "nova"}),
    ("/v1/audio/speech", {"model": "openai/tts-1", "input": "Hello", "response_format": "ogg"}),
    ("/v1/audio/speech", {"model": "elevenlabs/eleven_v3", "input": "Hello"}),
    ("/v1/rerank", {"model": "cohere/rerank-v3.5", "query": "q", "documents": ["a"]}),
    ("/v1/rerank", {"model": "cohere/rerank-v3.5", "query": "q", "documents": 5}),
]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _image(url: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]


# The chat surface (issue 21) on the canary's credentials: tools, a round trip whose arguments
# and results are sent back, schemas good and malformed, images at private addresses, broken
# and oversized data URLs. Answers and refusals alike must not carry a stored secret.
CHAT_SURFACE = [
    {"model": model, **fields}
    for model in ("openai/gpt-4o-mini", "canary-ft")
    for fields in (
        {"messages": HELLO, "tools": [WEATHER], "tool_choice": "required"},
        {"messages": HELLO, "tools": [WEATHER], "stream": True},
        {
            "messages": [
                *HELLO,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": 1}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "21 degrees"},
            ],
            "tools": [WEATHER],
        },
        {"messages": HELLO, "tools": [{"type": "function", "function": {"parameters": 7}}]},
        {
            "messages": HELLO,
            "response_format": {"type": "json_schema", "json_schema": {"schema": {"$ref": "#"}}},
        },
        {"messages": _image("http://169.254.169.254/latest/meta-data/")},
        {"messages": _image("http://127.0.0.1:1/cat.png")},
        {"messages": _image("data:image/png;base64,not-base64!")},
        {"messages": _image("data:image/png;base64," + "A" * (2 * 2**20))},
        {"messages": HELLO, "reasoning_effort": "high", "seed": 1, "logit_bias": {"1": 5}},
    )
]


def test_no_log_record_carries_a_secret(canaries, caplog, client_for):
    # Some traffic of the test phase too: pages and a gateway call.
    client_for("owner").get(reverse("credential-list", args=["openai"]))
    GatewayClient().post(
        "/v1/chat/completions",
        json.dumps({"model": "openai/gpt-4o-mini", "messages": HELLO}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {canaries.api_key_secret}"},
    )
    records = caplog.get_records("setup") + caplog.get_records("call")
    assert len(records) > 10, "the flows logged (requests, tasks, validations)"
    assert any(r.levelno == logging.DEBUG for r in records), "DEBUG records were captured"
    formatter = logging.Formatter("%(name)s %(message)s")
    for record in records:
        text = formatter.format(record) + repr(record.args) + repr(record.__dict__)
        assert not canaries.leaks(text), text[:500]


def test_celery_messages_carry_ids_and_results_hold_no_secret(canaries, published):
    from credentials.tasks import validate_credential

    validations = [m for m in published if m["task"] == validate_credential.name]
    assert len(validations) >= 4, "create, bad, custom, queued (and a check)"
    pending_ids = {str(pk) for pk in PendingValidation.objects.values_list("pk", flat=True)}
    for message in validations:
        args, kwargs, _ = message["body"]
        ids = list(args) + list(kwargs.values())
        assert len(ids) == 1 and str(ids[0]) in pending_ids, message["body"]
    for message in published:
        assert not canaries.leaks(json.dumps(message, default=str)), message
    # The task returns nothing (its result is ignored) whatever it validated.
    queued = canaries.objects["pending"]
    assert validate_credential.apply(args=[str(queued.pk)]).result is None


def test_exports_hold_no_secret(canaries, client_for, tmp_path):
    out = StringIO()
    call_command("export_providers", "--workspace", "acme", stdout=out)
    exported = out.getvalue()
    assert "canary-ft" in exported and "Canary" in exported  # the canary's rows are there
    assert not canaries.leaks(exported)
    target = tmp_path / "providers.yaml"
    call_command("export_providers", "--workspace", "acme", "--output", str(target), stderr=out)
    assert not canaries.leaks(target.read_text())

    # A call through the canary credential, then the usage export.
    GatewayClient().post(
        "/v1/chat/completions",
        json.dumps({"model": "openai/gpt-4o-mini", "messages": HELLO}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {canaries.api_key_secret}"},
    )
    for group in ("provider", "model", "credential"):
        response = client_for("owner").get(reverse("usage-csv"), {"group": group})
        assert response.status_code == 200
        csv = response_text(response)
        assert not canaries.leaks(csv), group
    assert "Canary" in csv, "the call through the canary credential is in the export"
