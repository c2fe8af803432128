"""Random input to every form POST and JSON endpoint: never a server error, never a half write.

Hypothesis generates bodies: dicts of each endpoint's field names (plus strangers) holding
random text (control characters and NULs included), integers, None (sent as an empty value),
lists, nested dicts (sent as JSON text) or a plausible valid value, ids that are not numbers
where an id is expected, and for the gateway random JSON values and objects of its fields,
wrong-typed nested options (`stream_options`) and JSON nested up to thousands of levels deep,
whole or inside one field. For each answer: no 5xx; an error answer (4xx) leaves
the row count of every table of the app as it was; a success leaves only valid rows
(`full_clean()`).
"""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway_client import GatewayClient
from tests.test_access import objects  # noqa: F401 - a fixture
from workspaces.models import Invitation

SWEEP = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,  # no .hypothesis/ directory left in the checkout
)
HX = {"HX-Request": "true"}
APPS = ("workspaces", "credentials", "providers", "balancing", "gateway", "system")
# Rows a refused call may still leave: none. Rows a call the provider refused leaves: its usage.
USAGE = {"gateway.usagerecord", "system.quotausage"}

text = st.text(max_size=60)  # any code point but surrogates: NUL, controls, RTL, emoji
scalar = st.one_of(text, st.integers(-(2**63), 2**63).map(str), st.none())
nested = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


def field(*good) -> st.SearchStrategy:
    """A form value: something random, or one of the plausible values that reach deeper."""
    options = [scalar, st.lists(text, max_size=3), nested.map(json.dumps)]
    if good:
        options.append(st.sampled_from(good))
    return st.one_of(*options)


def as_post_data(body: dict) -> dict:
    """What a browser could send: None becomes an empty value, lists repeat the field."""
    return {key: "" if value is None else value for key, value in body.items()}


def counts() -> dict[str, int]:
    return {
        model._meta.label_lower: model.objects.count()
        for app in APPS
        for model in apps.get_app_config(app).get_models()
    }


def rows(label: str) -> set:
    return set(apps.get_model(label).objects.values_list("pk", flat=True))


def check_answer(response, before: dict[str, int], pks_before: dict[str, set], where) -> None:
    status = response.status_code
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)
    assert status < 500 or status in (502, 503, 504) and where[0] in PROVIDER_CALLS, (
        where,
        status,
    )
    after = counts()
    if 400 <= status < 500 and status != 429 and where[0] not in PROVIDER_CALLS:
        assert after == before, (where, status, diff(before, after))
    elif status >= 400:  # refused here or by the provider: at most the call's usage is counted
        # (an input the gateway passes on, e.g. `"input": ""`, is refused by the provider
        # with a 400 and counted as an errored call)
        changed = {k for k in after if after[k] != before[k]}
        assert changed <= USAGE, (where, status, diff(before, after))
    for label, pks in pks_before.items():
        for obj in apps.get_model(label).objects.exclude(pk__in=pks):
            try:
                obj.full_clean(validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                pytest.fail(f"{where}: a new {label} row is invalid: {exc}")


def diff(before, after):
    return {k: (before[k], after[k]) for k in after if after[k] != before[k]}


PROVIDER_CALLS = {
    "playground-run",
    "gateway-chat",
    "gateway-embeddings",
    "gateway-moderations",
    "gateway-images",
    "gateway-speech",
    "gateway-transcriptions",
    "gateway-rerank",
}


@pytest.fixture
def sweep(client_for, objects, fake_providers):  # noqa: F811
    """post(name, url, data) as the owner, checked; the objects the URLs address."""
    client = client_for("owner")

    def post(name: str, url: str, body: dict) -> None:
        before = counts()
        pks_before = {label: rows(label) for label in before}
        response = client.post(url, as_post_data(body), headers=HX)
        check_answer(response, before, pks_before, (name, body))

    post.objects = objects
    post.base_url = fake_providers.base_url("openai")
    return post


@st.composite
def mutated(draw, valid: dict, good: dict | None = None) -> dict:
    """A valid body with some fields kept, some dropped and some replaced by random or other
    plausible values, and maybe a stranger field: most examples reach the code past the form."""
    good = good or {}
    body = {}
    for key, value in valid.items():
        action = draw(st.sampled_from(["keep", "keep", "keep", "drop", "random"]))
        if action == "keep":
            body[key] = value
        elif action == "random":
            body[key] = draw(field(*good.get(key, ())))
    for key, values in good.items():
        if key not in valid and draw(st.booleans()):
            body[key] = draw(field(*values))
    if draw(st.integers(0, 3)) == 0:
        body[draw(text)] = draw(field())
    return body


def credential_valid(base_url: str) -> dict:
    return {"name": "Key", "api_key": "sk-test-valid-input-sweep", "base_url": base_url}


CREDENTIAL_GOOD = {
    "name": ("API KEY 1", "", "x" * 101),
    "api_key": ("sk-test-invalid-x", "sk-test-error500-x", ""),
    "base_url": ("http://127.0.0.1:9/v1", "ftp://x", "", "http://[::1"),
    "organization": ("org-1", ""),
    "retry_of": ("1", "00000000-0000-0000-0000-000000000000"),
    "lb_model": ("gpt-4o", "my-finetune"),
    "lb_type": ("llm", "moderation"),
    "lb_custom": ("1",),
}
MODEL_TYPES = ("llm", "text-embedding", "moderation", "speech2text", "tts", "image")
POOL = {"model": "gpt-4o", "type": "llm"}
POOL_GOOD = {"model": ("my-finetune", "nope"), "type": MODEL_TYPES, "custom": ("1", "0")}


def test_credential_create(sweep):
    @SWEEP
    @given(body=mutated(credential_valid(sweep.base_url), CREDENTIAL_GOOD))
    def run(body):
        sweep("credential-create", reverse("credential-create", args=["openai"]), body)

    run()


def test_credential_update(sweep):
    pk = sweep.objects["credential"].pk

    @SWEEP
    @given(body=mutated(credential_valid(sweep.base_url), CREDENTIAL_GOOD))
    def run(body):
        sweep("credential-update", reverse("credential-update", args=["openai", pk]), body)

    run()


def test_custom_model_create(sweep):
    valid = {
        **credential_valid(sweep.base_url),
        "model_name": "my-finetune-2",
        "model_type": "llm",
    }
    good = {
        **CREDENTIAL_GOOD,
        "model_name": ("my-finetune", "ft:gpt-4o:acme", " ", "x" * 201),
        "model_type": MODEL_TYPES,
    }

    @SWEEP
    @given(body=mutated(valid, good))
    def run(body):
        sweep("custom-model-create", reverse("custom-model-create", args=["openai"]), body)

    run()


def test_pool_entry_create(sweep):
    credential = str(sweep.objects["credential"].pk)
    valid = {**POOL, "entry": credential, "count": "1"}
    good = {**POOL_GOOD, "entry": ("default", "0"), "count": ("0", "10", "11", "-1")}

    @SWEEP
    @given(body=mutated(valid, good))
    def run(body):
        sweep("pool-entry-create", reverse("pool-entry-create", args=["openai"]), body)

    run()


def test_pool_entry_update(sweep):
    pk = sweep.objects["pool_entry"].pk
    good = {"move": ("up", "down"), "enabled": ("true", "false")}

    @SWEEP
    @given(body=mutated({"enabled": "false"}, good))
    def run(body):
        sweep("pool-entry-update", reverse("pool-entry-update", args=["openai", pk]), body)

    run()


def test_api_key_create(sweep):
    @SWEEP
    @given(body=mutated({"name": "bot"}, {"name": (" ", "x" * 101)}))
    def run(body):
        sweep("api-key-create", reverse("api-key-create"), body)

    run()


def test_custom_model_readd(sweep):
    """The credential to re-add a model with is an id: anything else is a 404, never a 500."""
    credential = str(sweep.objects["credential"].pk)
    not_ids = ("", " ", "abc", "1.5", "1e3", "-1", "0x10", "9" * 40, "١")

    @SWEEP
    @given(body=mutated({"credential": credential}, {"credential": not_ids}))
    def run(body):
        sweep("custom-model-readd", reverse("custom-model-readd", args=["openai"]), body)

    run()


def test_workspace_update(sweep):
    @SWEEP
    @given(body=mutated({"name": "Acme 2"}, {"name": ("", " ", "x" * 101)}))
    def run(body):
        sweep("workspace-update", reverse("workspace-update"), body)

    run()


def test_member_create(sweep):
    valid = {"email": "new@acme.test", "role": "editor"}
    good = {
        "email": ("member@acme.test", "not-an-email", "NEW@ACME.TEST", "owner@other.test"),
        "role": ("member", "admin", "owner"),
    }

    @SWEEP
    @given(body=mutated(valid, good))
    def run(body):
        sweep("member-create", reverse("member-create"), body)

    run()


def test_invitation_resend_and_cancel(sweep):
    invitation = sweep.objects["invitation"]

    @SWEEP
    @given(body=mutated({}, {"pk": ("1", "x")}), action=st.sampled_from(["resend", "delete"]))
    def run(body, action):
        sweep(f"invitation-{action}", reverse(f"invitation-{action}", args=[invitation.pk]), body)
        Invitation.objects.get_or_create(
            pk=invitation.pk,
            defaults={"workspace": invitation.workspace, "email": invitation.email},
        )

    run()


def test_invitation_accept(sweep):
    """The invitee's form, reached as the emailed link does (the token in the session)."""
    from django.test import Client

    from workspaces.invitations import invitation_token

    workspace = sweep.objects["invitation"].workspace
    valid = {"new_password1": "a-long-new-pass-42", "new_password2": "a-long-new-pass-42"}
    good = {
        "new_password1": ("short", "password", "12345678901", "a-long-new-pass-42"),
        "new_password2": ("", "other-long-pass-43", "a-long-new-pass-42"),
    }

    @SWEEP
    @given(
        body=mutated(valid, good), email=st.sampled_from(["fresh@acme.test", "member@acme.test"])
    )
    def run(body, email):
        invitation, _ = Invitation.objects.get_or_create(workspace=workspace, email=email)
        invitee = Client()
        invitee.get(reverse("invitation-open", args=[invitation_token(invitation)]))
        before = counts()
        pks_before = {label: rows(label) for label in before}
        response = invitee.post(reverse("invitation-accept"), as_post_data(body))
        check_answer(response, before, pks_before, ("invitation-accept", body))

    run()


def test_provider_preference(sweep):
    @SWEEP
    @given(body=mutated({"preferred": "custom"}, {"preferred": ("system", "")}))
    def run(body):
        sweep("provider-preference", reverse("provider-preference", args=["openai"]), body)

    run()


def test_default_models(sweep):
    models = ("openai/gpt-4o", "openai/text-embedding-3-small", "nope/none", "gpt-4o")
    valid = {"llm": "openai/gpt-4o", "text-embedding": "openai/text-embedding-3-small"}
    good = {t: models for t in MODEL_TYPES} | {"clear": MODEL_TYPES}

    @SWEEP
    @given(body=mutated(valid, good))
    def run(body):
        sweep("default-models", reverse("default-models"), body)

    run()


def test_playground_run(sweep, workspace):
    from tests.factories import CredentialFactory

    CredentialFactory(
        workspace=workspace,
        provider="openai",
        name="fake",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-playground"}),
        config={"base_url": sweep.base_url},
    )
    from credentials.models import Credential

    # The sweep's own default (a loopback port no one may call) steps aside for the fake.
    Credential.objects.exclude(name="fake").update(is_default=False)
    valid = {"model": "openai/gpt-4o-mini", "system": "Be brief.", "prompt": "Hello"}
    good = {
        "model": ("openai/gpt-4o", "gpt-4o-mini", "nope", "openai/text-embedding-3-small"),
        "prompt": ("", " ", "x" * 50_001),
        "system": ("", "x" * 20_001),
        # A function and a tool round trip (issue 21): names, schemas and hidden transcripts
        # a browser never sends still answer 4xx, never a 500.
        "tool_name": ("get_weather", "", "bad name!", "x" * 65),
        "tool_description": ("", "x" * 2_001),
        "tool_parameters": ('{"type": "object", "properties": {}}', "{", "[1]", '{"type": 1}'),
        "tool_choice": ("auto", "required", "nope"),
        "action": ("run", "send-results"),
        "transcript": (
            "[]",
            "not json",
            '[{"calls": [{"id": 1}]}]',
            '[{"content": "", "calls": [{"id": "c1", "name": "f", "arguments": "{"}]}]',
            '[{"content": "", "calls": [{"id": "c1", "name": "f", "arguments": "{}"}]}]',
            "[" + ",".join(['{"calls": []}'] * 9) + "]",
        ),
        "tool_result": ("42", "", " "),
    }

    @SWEEP
    @given(body=mutated(valid, good))
    def run(body):
        sweep("playground-run", reverse("playground-run"), body)

    run()


# --- the gateway -------------------------------------------------------------------------------

MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "role": st.one_of(st.sampled_from(["user", "system", "assistant", "tool"]), nested),
        "content": st.one_of(text, nested),
        "name": nested,
    },
)
GATEWAY_FIELDS = {
    "model": st.one_of(
        st.sampled_from(
            [
                "openai/gpt-4o-mini",
                "gpt-4o-mini",
                "openai/text-embedding-3-small",
                "openai/omni-moderation-latest",
            ]
        ),
        nested,
    ),
    "messages": st.one_of(st.lists(MESSAGE, max_size=3), nested),
    "input": st.one_of(text, st.lists(text, max_size=3), nested),
    "temperature": st.one_of(st.floats(-1, 3), nested),
    "top_p": nested,
    "max_tokens": st.one_of(st.integers(-5, 10**12), nested),
    "stream": st.one_of(st.booleans(), nested),
    "stop": nested,
    "n": nested,
    "user": nested,
    "stream_options": st.one_of(
        st.fixed_dictionaries({}, optional={"include_usage": st.one_of(st.booleans(), nested)}),
        nested,
    ),
    # the media endpoints' (issue 22)
    "prompt": st.one_of(text, nested),
    "size": st.one_of(st.sampled_from(["1024x1024", "0x0", "16:9", "x"]), nested),
    "response_format": st.one_of(
        st.sampled_from(["url", "b64_json", "mp3", "opus", "flac", "json"]), nested
    ),
    "voice": st.one_of(text, nested),
    "query": st.one_of(text, nested),
    "documents": st.one_of(
        st.lists(st.one_of(text, st.fixed_dictionaries({"text": text})), max_size=3), nested
    ),
    "top_n": st.one_of(st.integers(-5, 10**12), nested),
    "return_documents": st.one_of(st.booleans(), nested),
}
VALID_GATEWAY = {
    "gateway-chat": {
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hi"}],
    },
    "gateway-embeddings": {"model": "openai/text-embedding-3-small", "input": ["a", "b"]},
    "gateway-moderations": {"model": "openai/omni-moderation-latest", "input": "hello"},
    "gateway-images": {"model": "openai/dall-e-3", "prompt": "a fox", "response_format": "url"},
    "gateway-speech": {"model": "openai/tts-1", "input": "Hello", "voice": "nova"},
    "gateway-rerank": {"model": "cohere/rerank-v3.5", "query": "q", "documents": ["a", "q"]},
}


@st.composite
def gateway_mutated(draw, valid: dict) -> dict:
    body = {}
    for key, value in valid.items():
        action = draw(st.sampled_from(["keep", "keep", "keep", "drop", "random"]))
        if action == "keep":
            body[key] = value
        elif action == "random":
            body[key] = draw(GATEWAY_FIELDS[key])
    for key, values in GATEWAY_FIELDS.items():
        if key not in valid and draw(st.integers(0, 9)) == 0:
            body[key] = draw(values)
    return body


@st.composite
def deeply_nested(draw, valid: dict) -> str:
    """JSON text nested `depth` levels deep ([[[...]]] or {"a":{"a":...}}), as the whole body or
    as the value of one field of an otherwise valid one (a message's content included)."""
    depth = draw(st.one_of(st.sampled_from([999, 1000, 1001, 5000]), st.integers(1, 3000)))
    opener, leaf, closer = draw(st.sampled_from([("[", "", "]"), ('{"a":', "1", "}")]))
    nest = opener * depth + leaf + closer * depth
    where = draw(st.sampled_from([None, "content", "stream_options", *valid]))
    if where is None:
        return nest
    body = {**valid, "stream": draw(st.booleans())}
    if where == "content":
        body["messages"] = [{"role": "user", "content": "HOLE"}]
    else:
        body[where] = "HOLE"
    return json.dumps(body).replace('"HOLE"', nest)


def gateway_bodies(name: str) -> st.SearchStrategy:
    return st.one_of(
        deeply_nested(VALID_GATEWAY[name]),
        deeply_nested(VALID_GATEWAY[name]),
        gateway_mutated(VALID_GATEWAY[name]).map(json.dumps),
        gateway_mutated(VALID_GATEWAY[name]).map(json.dumps),
        nested.map(json.dumps),  # any JSON value
        st.fixed_dictionaries({}, optional=GATEWAY_FIELDS).map(json.dumps),
        st.binary(max_size=40),  # not JSON at all
    )


@pytest.fixture
def gateway(workspace, members, fake_providers):
    from api_keys.services import api_key_create
    from tests.factories import CredentialFactory

    CredentialFactory(
        workspace=workspace,
        name="fake",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-gateway"}),
        config={"base_url": fake_providers.base_url("openai")},
    )
    CredentialFactory(
        workspace=workspace,
        provider="cohere",
        name="fake-cohere",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-gateway"}),
        config={"base_url": fake_providers.base_url("cohere")},
    )
    secret = api_key_create(workspace=workspace, name="s", acting_user=members["owner"].user).secret
    client = GatewayClient()

    def post(name: str, body) -> None:
        before = counts()
        pks_before = {label: rows(label) for label in before}
        response = client.generic(
            "POST",
            reverse(name),
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert response["Content-Type"].startswith(
            ("application/json", "text/event-stream", "audio/")
        )
        check_answer(response, before, pks_before, (name, body))
        if response.status_code == 200 and response["Content-Type"] == "application/json":
            answer = response.json()
            assert {"choices", "data", "results"} & set(answer), answer

    return post


@pytest.mark.parametrize(
    "name",
    [
        "gateway-chat",
        "gateway-embeddings",
        "gateway-moderations",
        "gateway-images",
        "gateway-speech",
        "gateway-rerank",
    ],
)
def test_gateway_json(gateway, name):
    @SWEEP
    @given(body=gateway_bodies(name))
    def run(body):
        gateway(name, body)

    run()


# --- the chat surface (issue 21): tools, tool calls, schemas, images ----------------------------

PRIVATE_IMAGES = [
    "http://127.0.0.1/cat.png",
    "http://localhost:8000/cat.png",
    "http://10.0.0.7/cat.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/cat.png",
    "http://0x7f000001/cat.png",
    "https://192.168.1.1/cat.png",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
]
_PNG = "iVBORw0KGgo="
DATA_URLS = [
    f"data:image/png;base64,{_PNG}",
    "data:image/png;base64,not base64 at all!",
    "data:text/html;base64,PHNjcmlwdD4=",
    "data:image/png,",
    "data:;base64,AAAA",
    # past the image cap (GATEWAY_MAX_IMAGE_BYTES, 8 MiB), and past the text cap alone
    "data:image/png;base64," + "A" * (9 * 2**20),
    "data:image/png;base64," + "A" * (2 * 2**20),
]
SCHEMAS = st.one_of(
    nested,
    st.sampled_from(
        [
            {"type": "object", "properties": {"city": {"type": "string"}}},
            {"$ref": "#"},  # recursive
            {"$ref": "https://example.com/schema.json"},  # foreign
            {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
            {"type": "telepathy"},
            {"type": ["string", "null"], "enum": [1, {"a": []}]},
            {"properties": "not a mapping"},
            {"$defs": {"n": {"$ref": "#/$defs/n"}}, "$ref": "#/$defs/n"},
        ]
    ),
)
TOOL = st.fixed_dictionaries(
    {"type": st.one_of(st.just("function"), nested)},
    optional={
        "function": st.one_of(
            st.fixed_dictionaries(
                {"name": st.one_of(st.just("get_weather"), text, nested)},
                optional={
                    "description": st.one_of(text, nested),
                    "parameters": SCHEMAS,
                    "strict": st.one_of(st.booleans(), nested),
                },
            ),
            nested,
        )
    },
)
IMAGE_PART = st.fixed_dictionaries(
    {
        "type": st.one_of(st.just("image_url"), nested),
        "image_url": st.one_of(
            st.fixed_dictionaries(
                {"url": st.one_of(st.sampled_from(PRIVATE_IMAGES + DATA_URLS), text, nested)},
                optional={"detail": st.one_of(st.sampled_from(["auto", "low", "high"]), nested)},
            ),
            nested,
        ),
    }
)
TOOL_CALL = st.fixed_dictionaries(
    {
        "id": st.one_of(st.just("call_1"), text, nested),
        "type": st.one_of(st.just("function"), nested),
        "function": st.one_of(
            st.fixed_dictionaries(
                {
                    "name": st.one_of(st.just("get_weather"), text),
                    "arguments": st.one_of(
                        st.just('{"city": "Paris"}'), text, nested.map(json.dumps), nested
                    ),
                }
            ),
            nested,
        ),
    }
)
SURFACE_MESSAGES = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"role": st.just("user")},
            optional={
                "content": st.one_of(
                    text, st.lists(st.one_of(IMAGE_PART, nested), min_size=1, max_size=2)
                )
            },
        ),
        st.fixed_dictionaries(
            {"role": st.just("assistant")},
            optional={
                "content": st.one_of(st.none(), text),
                "tool_calls": st.one_of(st.lists(TOOL_CALL, max_size=2), nested),
            },
        ),
        st.fixed_dictionaries(
            {"role": st.just("tool")},
            optional={
                "tool_call_id": st.one_of(st.just("call_1"), text, nested),
                "content": st.one_of(text, nested),
            },
        ),
    ),
    min_size=1,
    max_size=4,
)
SURFACE_FIELDS = {
    "tools": st.one_of(st.lists(TOOL, max_size=2), nested),
    "tool_choice": st.one_of(
        st.sampled_from(["auto", "none", "required", {"type": "function"}]),
        st.fixed_dictionaries(
            {"type": st.just("function"), "function": st.fixed_dictionaries({"name": text})}
        ),
        nested,
    ),
    "parallel_tool_calls": st.one_of(st.booleans(), nested),
    "response_format": st.one_of(
        st.sampled_from([{"type": "json_object"}, {"type": "text"}]),
        st.fixed_dictionaries(
            {"type": st.just("json_schema")},
            optional={
                "json_schema": st.one_of(
                    st.fixed_dictionaries(
                        {"name": st.one_of(st.just("answer"), text)},
                        optional={"schema": SCHEMAS, "strict": st.one_of(st.booleans(), nested)},
                    ),
                    nested,
                )
            },
        ),
        nested,
    ),
    "reasoning_effort": st.one_of(st.sampled_from(["low", "high", "none", "huge"]), nested),
    "seed": st.one_of(st.integers(-(2**70), 2**70), nested),
    "logit_bias": nested,
    "logprobs": nested,
    "top_logprobs": nested,
    "max_completion_tokens": st.one_of(st.integers(-5, 10**12), nested),
    "stream": st.booleans(),
}
SURFACE_MODELS = [
    "openai/gpt-4o",
    "anthropic/claude-sonnet-4-5-20250929",
    "gemini/gemini-2.5-flash",
]


@st.composite
def chat_surface_bodies(draw) -> str:
    body = {"model": draw(st.sampled_from(SURFACE_MODELS)), "messages": draw(SURFACE_MESSAGES)}
    for key, values in SURFACE_FIELDS.items():
        if draw(st.integers(0, 2)) == 0:
            body[key] = draw(values)
    return json.dumps(body)


@pytest.fixture
def surface_gateway(gateway, workspace, fake_providers):
    from tests.factories import CredentialFactory

    for key in ("anthropic", "gemini"):
        CredentialFactory(
            workspace=workspace,
            provider=key,
            name=f"{key}-key",
            is_default=True,
            secret_data=json.dumps({"api_key": "sk-test-valid-1"}),
            config={"base_url": fake_providers.base_url(key)},
        )
    return gateway


def test_gateway_chat_surface(surface_gateway, fake_providers):
    """Tools, tool calls with any arguments, malformed schemas, images at private addresses,
    huge or broken data URLs: a 4xx naming the trouble or an answer, never a 500, and no image
    is ever fetched from a private address."""

    @SWEEP
    @given(body=chat_surface_bodies())
    def run(body):
        surface_gateway("gateway-chat", body)

    run()
    fetched = {r.path for r in fake_providers.requests}
    assert not any("meta-data" in path or "passwd" in path for path in fetched)
