"""Every provider adapter against the fake provider APIs: real HTTP on loopback through
the sync transport, each fake speaking its provider's wire format (tests/fakes/providers/).
Scenarios are picked by the key's content, so nothing here patches code."""

from __future__ import annotations

import json
import socket

import pytest
from urllib3 import HTTPHeaderDict

from tests.fakes.providers.anthropic import Anthropic
from tests.fakes.providers.base import RETRY_AFTER
from tests.fakes.providers.cohere import Cohere
from tests.fakes.providers.gemini import Gemini
from tests.fakes.providers.ollama import Ollama
from upstream.adapters.base import retry_after
from upstream.calling import ProviderClient, get_adapter
from upstream.errors import (
    AuthenticationFailed,
    BadRequest,
    ModelNotAvailable,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    Timeout,
    Unreachable,
    UpstreamError,
)
from upstream.http import Request, Response
from upstream.registry import catalog, get_provider
from upstream.transports.sync import SyncTransport

PROVIDER_KEYS = [
    "openai",
    "anthropic",
    "gemini",
    "cohere",
    "azure_openai",
    "ollama",
    "stability",
    "elevenlabs",
    "openai_compatible",
]
VALID_KEY = "sk-test-valid-1"
PROXY_TOKEN = "ollama-proxy-token-7f3a9c2e1b4d"  # Ollama behind an authenticating proxy

# What a successful validation sends: method, path (with query), auth header, its value.
EXPECTED_REQUEST = {
    "openai": ("GET", "/openai/v1/models", "authorization", "Bearer {key}"),
    "openai_compatible": ("GET", "/openai/v1/models", "authorization", "Bearer {key}"),
    "anthropic": ("GET", "/anthropic/v1/models?limit=1", "x-api-key", "{key}"),
    "gemini": ("GET", "/gemini/v1beta/models?pageSize=1", "x-goog-api-key", "{key}"),
    "cohere": ("GET", "/cohere/v1/models?page_size=1", "authorization", "Bearer {key}"),
    "azure_openai": ("GET", "/azure/openai/models?api-version=2024-10-21", "api-key", "{key}"),
    "ollama": ("GET", "/ollama/api/tags", "authorization", "Bearer {key}"),
    "stability": ("GET", "/stability/v1/user/account", "authorization", "Bearer {key}"),
    "elevenlabs": ("GET", "/elevenlabs/v1/user", "xi-api-key", "{key}"),
}

# The provider's own words for a bad key, which reach the message (scrubbed).
INVALID_KEY_WORDS = {
    "openai": "Incorrect API key provided",
    "openai_compatible": "Incorrect API key provided",
    "anthropic": "invalid x-api-key",
    "gemini": "API key not valid",
    "cohere": "invalid api token",
    "azure_openai": "Access denied due to invalid subscription key",
    "ollama": "unauthorized",
    "stability": "invalid or missing header value",
    "elevenlabs": "Invalid API key",
}

SCENARIO_TABLE = [
    ("invalid", AuthenticationFailed, "Authentication failed"),
    ("forbidden", AuthenticationFailed, "Authentication failed"),
    ("echo", AuthenticationFailed, "Authentication failed"),
    ("ratelimited", RateLimited, "Rate limited"),
    ("quota", QuotaExhausted, "Quota exhausted"),
    ("notfound", ModelNotAvailable, "Model not available"),
    ("error500", UpstreamError, "HTTP 500"),
    ("malformed", UpstreamError, "not JSON"),
    ("deepjson", UpstreamError, "not JSON"),
    ("hang", Timeout, "no answer within 1 s"),
    ("reset", (UpstreamError, Unreachable), ""),
]


def adapter(provider_key: str) -> ProviderClient:
    return get_adapter(get_provider(provider_key))


def credentials(server, provider_key: str, key: str | None = VALID_KEY, **extra) -> dict:
    scenario = extra.pop("scenario", None)
    values = {"base_url": server.base_url(provider_key, scenario), **extra}
    if key is not None:
        values["api_key"] = key
    if provider_key == "azure_openai":
        values.setdefault("api_version", "2024-10-21")
    return values


def scenario_credentials(server, provider_key: str, scenario: str) -> dict:
    """A key naming the scenario; Ollama, keyless, gets it from the base URL's /s/ segment."""
    if provider_key == "ollama":
        return credentials(server, "ollama", PROXY_TOKEN, scenario=scenario)
    return credentials(server, provider_key, f"sk-{scenario}-{provider_key}-7f3a9c2e1b4d")


def assert_no_secret(error: ProviderError, creds: dict) -> None:
    secret = creds.get("api_key")
    if not secret:
        return
    shown = " ".join([error.message, error.hint, str(error), json.dumps(error.as_dict())])
    assert secret not in shown
    assert secret[-12:] not in shown  # not even its distinctive tail


@pytest.fixture
def free_port() -> int:
    """A loopback port with nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- every provider ---------------------------------------------------------------------------


def test_the_table_covers_the_whole_catalog():
    assert sorted(PROVIDER_KEYS) == sorted(provider.key for provider in catalog())
    for provider in catalog():
        assert isinstance(get_adapter(provider), ProviderClient)


@pytest.mark.parametrize("provider_key", PROVIDER_KEYS)
def test_validate_succeeds_and_sends_the_providers_auth_header(fake_providers, provider_key):
    creds = credentials(fake_providers, provider_key)

    adapter(provider_key).validate(creds)

    method, path, header, value = EXPECTED_REQUEST[provider_key]
    [request] = fake_providers.requests
    assert (request.method, request.path) == (method, path)
    assert request.headers[header] == value.format(key=VALID_KEY)
    # The key travels in that header only: never in the URL, nor in another header.
    assert VALID_KEY not in request.path
    assert [name for name, v in request.headers.items() if VALID_KEY in v] == [header]


def test_anthropic_sends_its_api_version(fake_providers):
    adapter("anthropic").validate(credentials(fake_providers, "anthropic"))
    assert fake_providers.requests[0].headers["anthropic-version"] == "2023-06-01"


def test_ollama_without_a_key_sends_no_authorization(fake_providers):
    adapter("ollama").validate(credentials(fake_providers, "ollama", key=None))
    [request] = fake_providers.requests
    assert request.path == "/ollama/api/tags"
    assert "authorization" not in request.headers


@pytest.mark.parametrize("provider_key", PROVIDER_KEYS)
@pytest.mark.parametrize(("scenario", "expected", "fragment"), SCENARIO_TABLE)
def test_failures_map_onto_the_taxonomy(
    fake_providers, short_provider_timeouts, provider_key, scenario, expected, fragment
):
    creds = scenario_credentials(fake_providers, provider_key, scenario)

    with pytest.raises(expected) as caught:
        adapter(provider_key).validate(creds)

    error = caught.value
    assert error.message.startswith(error.title)
    assert fragment in error.message
    if scenario == "ratelimited":
        assert error.retry_after == RETRY_AFTER
    assert_no_secret(error, creds)
    assert fake_providers.requests, "the failure must come from the fake, not from before it"


@pytest.mark.parametrize("provider_key", PROVIDER_KEYS)
def test_a_bad_key_shows_the_providers_own_words(fake_providers, provider_key):
    creds = scenario_credentials(fake_providers, provider_key, "invalid")
    with pytest.raises(AuthenticationFailed) as caught:
        adapter(provider_key).validate(creds)
    assert INVALID_KEY_WORDS[provider_key] in caught.value.message


@pytest.mark.parametrize("provider_key", [k for k in PROVIDER_KEYS if k != "ollama"])
def test_a_missing_key_is_an_authentication_failure(fake_providers, provider_key):
    with pytest.raises(AuthenticationFailed):
        adapter(provider_key).validate(credentials(fake_providers, provider_key, key=""))


@pytest.mark.parametrize("provider_key", PROVIDER_KEYS)
def test_a_slow_answer_still_validates(fake_providers, provider_key):
    creds = credentials(fake_providers, provider_key, scenario="slow")
    adapter(provider_key).validate(creds)
    assert len(fake_providers.requests) == 1


@pytest.mark.parametrize("provider_key", PROVIDER_KEYS)
def test_connection_refused_is_unreachable(fake_providers, settings, free_port, provider_key):
    settings.PROVIDER_URL_ALLOWLIST = [f"127.0.0.1:{free_port}"]
    creds = credentials(fake_providers, provider_key)
    creds["base_url"] = creds["base_url"].replace(
        f"127.0.0.1:{fake_providers.port}", f"127.0.0.1:{free_port}"
    )

    with pytest.raises(Unreachable, match="cannot connect") as caught:
        adapter(provider_key).validate(creds)

    assert_no_secret(caught.value, creds)
    assert fake_providers.requests == []


@pytest.mark.parametrize("provider_key", PROVIDER_KEYS)
def test_a_name_that_does_not_resolve_is_unreachable(fake_providers, provider_key):
    creds = credentials(fake_providers, provider_key)
    creds["base_url"] = creds["base_url"].replace(
        f"127.0.0.1:{fake_providers.port}", "nonexistent.invalid"
    )

    with pytest.raises(Unreachable, match="cannot resolve nonexistent.invalid") as caught:
        adapter(provider_key).validate(creds)

    assert_no_secret(caught.value, creds)


def test_a_scenario_in_the_base_url_works_for_keyed_providers_too(fake_providers):
    creds = credentials(fake_providers, "openai", scenario="ratelimited")
    with pytest.raises(RateLimited) as caught:
        adapter("openai").validate(creds)
    assert caught.value.retry_after == RETRY_AFTER


def test_an_html_error_page_becomes_words(fake_providers):
    creds = credentials(fake_providers, "openai_compatible")
    creds["base_url"] = fake_providers.url("/_test/html502")
    with pytest.raises(UpstreamError) as caught:
        adapter("openai_compatible").validate(creds)
    assert caught.value.message == "Provider error: HTTP 502: 502 Bad Gateway"


def test_a_base_url_with_the_version_path_pasted_still_works(fake_providers):
    for provider_key, suffix in [("anthropic", "/v1/"), ("gemini", "/v1beta"), ("cohere", "/v1")]:
        creds = credentials(fake_providers, provider_key)
        creds["base_url"] += suffix
        adapter(provider_key).validate(creds)
    paths = [request.path.split("?")[0] for request in fake_providers.requests]
    assert paths == ["/anthropic/v1/models", "/gemini/v1beta/models", "/cohere/v1/models"]


# -- provider-specific errors -----------------------------------------------------------------


def test_anthropic_overloaded_is_an_upstream_error(fake_providers):
    with pytest.raises(UpstreamError, match="HTTP 529: Overloaded") as caught:
        adapter("anthropic").validate(credentials(fake_providers, "anthropic", "sk-overloaded-1"))
    assert "overloaded for everyone" in caught.value.hint


def test_anthropic_spend_limit_is_quota_not_a_rate_limit(fake_providers):
    with pytest.raises(QuotaExhausted, match="monthly spend limit"):
        adapter("anthropic").validate(credentials(fake_providers, "anthropic", "sk-spendlimit-1"))


def test_anthropic_low_credit_is_quota(fake_providers):
    with pytest.raises(QuotaExhausted, match="credit balance is too low") as caught:
        adapter("anthropic").validate(credentials(fake_providers, "anthropic", "sk-quota-1"))
    assert "Plans & Billing" in caught.value.hint


def test_gemini_rate_limit_delay_comes_from_retry_info(fake_providers):
    with pytest.raises(RateLimited) as caught:
        adapter("gemini").validate(credentials(fake_providers, "gemini", "AIza-ratelimited-1"))
    assert caught.value.retry_after == RETRY_AFTER
    # Gemini sends no Retry-After header: the delay was read from google.rpc.RetryInfo.
    answer = SyncTransport().send(
        Request(
            "GET",
            fake_providers.base_url("gemini") + "/v1beta/models",
            headers={"x-goog-api-key": "AIza-ratelimited-1"},
        )
    )
    assert answer.status == 429
    assert "retry-after" not in answer.headers


def test_gemini_daily_quota_is_quota_exhausted(fake_providers):
    with pytest.raises(QuotaExhausted) as caught:
        adapter("gemini").validate(credentials(fake_providers, "gemini", "AIza-quota-1"))
    assert "daily quota" in caught.value.hint


def test_gemini_scrubs_the_key_it_names_in_its_message(fake_providers):
    key = "AIzaSyForbiddenKey0123456789abcdef"
    with pytest.raises(AuthenticationFailed, match="has been suspended") as caught:
        adapter("gemini").validate(credentials(fake_providers, "gemini", key))
    assert key not in caught.value.message


def test_cohere_monthly_trial_limit_is_quota(fake_providers):
    with pytest.raises(QuotaExhausted, match="1000 API calls / month"):
        adapter("cohere").validate(credentials(fake_providers, "cohere", "co-trialmonth-1"))


def test_cohere_cancelled_request_is_an_upstream_error(fake_providers):
    with pytest.raises(UpstreamError, match="HTTP 499: request cancelled") as caught:
        adapter("cohere").validate(credentials(fake_providers, "cohere", "co-cancelled-1"))
    assert "Retrying is safe" in caught.value.hint


def test_azure_rate_limit_linking_quotaincrease_is_still_a_rate_limit(fake_providers):
    with pytest.raises(RateLimited, match="call rate limit") as caught:
        adapter("azure_openai").validate(
            credentials(fake_providers, "azure_openai", "az-ratelimited")
        )
    assert caught.value.retry_after == RETRY_AFTER


def test_azure_out_of_quota_is_quota(fake_providers):
    with pytest.raises(QuotaExhausted, match="Out of call volume quota"):
        adapter("azure_openai").validate(credentials(fake_providers, "azure_openai", "az-quota"))


def test_elevenlabs_quota_arrives_as_a_401_and_is_quota(fake_providers):
    with pytest.raises(QuotaExhausted, match="exceeds your quota"):
        adapter("elevenlabs").validate(credentials(fake_providers, "elevenlabs", "sk_quota_1"))


def test_elevenlabs_restricted_key_says_which_permission(fake_providers):
    with pytest.raises(AuthenticationFailed, match="user_read") as caught:
        adapter("elevenlabs").validate(credentials(fake_providers, "elevenlabs", "sk_forbidden"))
    assert "read access to User" in caught.value.hint


def test_stability_no_credits_is_quota(fake_providers):
    with pytest.raises(QuotaExhausted, match="lack sufficient credits"):
        adapter("stability").validate(credentials(fake_providers, "stability", "sk-quota-1"))


# -- custom models ----------------------------------------------------------------------------


def azure_deployment(server, deployment: str, base_model: str) -> dict:
    return credentials(server, "azure_openai", deployment=deployment, base_model=base_model)


def test_azure_chat_deployment_is_validated_with_a_one_token_completion(fake_providers):
    adapter("azure_openai").validate(azure_deployment(fake_providers, "my-gpt-4o", "gpt-4o"))

    [request] = fake_providers.requests
    assert request.method == "POST"
    assert request.path == (
        "/azure/openai/deployments/my-gpt-4o/chat/completions?api-version=2024-10-21"
    )
    assert request.headers["api-key"] == VALID_KEY
    body = json.loads(request.body)
    assert body["max_tokens"] == 1
    assert body["messages"][0]["role"] == "user"


def test_azure_embedding_deployment_is_validated_with_an_embedding(fake_providers):
    creds = azure_deployment(fake_providers, "my-embedding", "text-embedding-3-small")
    adapter("azure_openai").validate(creds)
    [request] = fake_providers.requests
    assert (
        request.path == "/azure/openai/deployments/my-embedding/embeddings?api-version=2024-10-21"
    )
    assert json.loads(request.body) == {"input": "ping"}


def test_azure_deployment_name_can_come_from_the_model_argument(fake_providers):
    adapter("azure_openai").validate(credentials(fake_providers, "azure_openai"), model="my-gpt-4o")
    assert "/deployments/my-gpt-4o/chat/completions" in fake_providers.requests[0].path


def test_azure_missing_deployment_is_model_not_available(fake_providers):
    creds = azure_deployment(fake_providers, "not-deployed", "gpt-4o")
    with pytest.raises(ModelNotAvailable, match="deployment for this resource does not exist") as e:
        adapter("azure_openai").validate(creds)
    assert "deployment name" in e.value.hint


def test_azure_deployment_of_another_kind_of_model_is_a_bad_request(fake_providers):
    creds = azure_deployment(fake_providers, "my-embedding", "gpt-4o")
    with pytest.raises(BadRequest, match="chatCompletion operation does not work") as caught:
        adapter("azure_openai").validate(creds)
    assert "Base Model" in caught.value.hint


def test_azure_pasted_full_request_url_is_cut_back_to_the_endpoint(fake_providers):
    creds = azure_deployment(fake_providers, "my-gpt-4o", "gpt-4o")
    creds["base_url"] += "/openai/deployments/my-gpt-4o/chat/completions?api-version=2024-02-01"
    adapter("azure_openai").validate(creds)
    assert fake_providers.requests[0].path.startswith("/azure/openai/deployments/my-gpt-4o/")


@pytest.mark.parametrize("model", ["llama3.2", "llama3.2:latest", "qwen2.5:7b"])
def test_ollama_custom_model_that_is_pulled_validates(fake_providers, model):
    adapter("ollama").validate(credentials(fake_providers, "ollama", key=None), model=model)


def test_ollama_custom_model_that_is_not_pulled_says_to_pull_it(fake_providers):
    with pytest.raises(ModelNotAvailable, match="mistral is not pulled") as caught:
        adapter("ollama").validate(credentials(fake_providers, "ollama", key=None), model="mistral")
    assert "ollama pull mistral" in caught.value.hint


@pytest.mark.parametrize(
    ("provider_key", "model", "path"),
    [
        (
            "anthropic",
            "claude-sonnet-4-5-20250929",
            "/anthropic/v1/models/claude-sonnet-4-5-20250929",
        ),
        ("gemini", "gemini-2.5-pro", "/gemini/v1beta/models/gemini-2.5-pro"),
        ("cohere", "command-a-03-2025", "/cohere/v1/models/command-a-03-2025"),
    ],
)
def test_custom_model_is_checked_to_exist(fake_providers, provider_key, model, path):
    adapter(provider_key).validate(credentials(fake_providers, provider_key), model=model)
    assert [r.path for r in fake_providers.requests] == [path]

    with pytest.raises(ModelNotAvailable):
        adapter(provider_key).validate(credentials(fake_providers, provider_key), model="nope-9")


# -- listing models ---------------------------------------------------------------------------


def by_name(models) -> dict[str, str]:
    return {model.name: model.type for model in models}


def catalog_names(provider_key: str) -> set[str]:
    return {model.name for model in get_provider(provider_key).models}


def test_openai_list_models(fake_providers):
    models = by_name(adapter("openai").list_models(credentials(fake_providers, "openai")))
    assert models["gpt-4o"] == "llm"
    assert models["text-embedding-3-small"] == "text-embedding"
    assert models["whisper-1"] == "speech2text"
    assert models["dall-e-3"] == "image"


def test_anthropic_list_models_follows_pages(fake_providers):
    models = adapter("anthropic").list_models(credentials(fake_providers, "anthropic"))

    assert [m.name for m in models] == [item[0] for item in Anthropic.MODELS]
    assert {m.type for m in models} == {"llm"}
    assert models[0].label == "Claude Haiku 4.5"
    assert catalog_names("anthropic") & {m.name for m in models}
    # Four per page from the fake: the second request continues after the fourth model.
    assert len(fake_providers.requests) == 2
    assert "after_id=claude-opus-4-20250514" in fake_providers.requests[1].path


def test_gemini_list_models_maps_names_and_methods(fake_providers):
    models = adapter("gemini").list_models(credentials(fake_providers, "gemini"))
    types = by_name(models)

    assert types["gemini-2.5-pro"] == "llm"
    assert types["gemma-3-27b-it"] == "llm"
    assert types["gemini-embedding-001"] == "text-embedding"
    assert types["text-embedding-004"] == "text-embedding"
    assert "imagen-4.0-generate-001" not in types  # predict: not a type this console serves
    assert "aqa" not in types
    assert not any(name.startswith("models/") for name in types)
    assert len(fake_providers.requests) == 3  # 9 models, 4 a page
    assert all(VALID_KEY not in r.path for r in fake_providers.requests)
    assert len(types) == len(Gemini.MODELS) - 2


def test_cohere_list_models_maps_endpoints(fake_providers):
    types = by_name(adapter("cohere").list_models(credentials(fake_providers, "cohere")))

    assert types["command-a-03-2025"] == "llm"
    assert types["c4ai-aya-expanse-32b"] == "llm"
    assert types["embed-v4.0"] == "text-embedding"
    assert types["embed-english-v3.0"] == "text-embedding"
    assert types["rerank-v3.5"] == "rerank"
    assert types["rerank-multilingual-v3.0"] == "rerank"
    assert len(types) == len(Cohere.MODELS)
    assert {"command-a-03-2025", "embed-v4.0", "rerank-v3.5"} <= catalog_names("cohere") & set(
        types
    )


def test_ollama_list_models(fake_providers):
    types = by_name(adapter("ollama").list_models(credentials(fake_providers, "ollama", key=None)))
    assert types == {
        "llama3.2:latest": "llm",
        "qwen2.5:7b": "llm",
        "llava:13b": "llm",
        "nomic-embed-text:latest": "text-embedding",
        "all-minilm:latest": "text-embedding",  # a bert-family embedding model
    }
    assert len(types) == len(Ollama.MODELS)


def test_ollama_list_models_reads_each_chat_models_capabilities(fake_providers):
    models = adapter("ollama").list_models(credentials(fake_providers, "ollama", key=None))
    features = {m.name: m.features for m in models}

    assert features == {
        "llama3.2:latest": ("tool-call", "json-mode", "structured-output", "streaming"),
        "qwen2.5:7b": ("tool-call", "json-mode", "structured-output", "streaming", "reasoning"),
        "llava:13b": ("vision", "json-mode", "structured-output", "streaming"),
        "nomic-embed-text:latest": None,  # not a chat model: not shown
        "all-minilm:latest": None,
    }
    shows = [r for r in fake_providers.requests if r.path.endswith("/api/show")]
    assert len(shows) == 3


def test_ollama_capabilities_unknown_or_a_failed_show_leave_features_unknown():
    from upstream.adapters.ollama import features_from_capabilities

    assert features_from_capabilities(None) is None  # a server too old to say
    assert features_from_capabilities(["completion"]) == (
        "json-mode",
        "structured-output",
        "streaming",
    )
    assert features_from_capabilities(["embedding"]) == ()


def test_an_openrouter_like_list_says_what_each_model_can_do():
    from upstream.adapters.openai import listed_features

    assert listed_features({"id": "gpt-4o"}) is None  # OpenAI's own list says nothing
    item = {
        "id": "openai/gpt-4o",
        "supported_parameters": ["tools", "tool_choice", "response_format", "structured_outputs"],
        "architecture": {"input_modalities": ["text", "image", "file"]},
    }
    assert listed_features(item) == (
        "vision",
        "tool-call",
        "json-mode",
        "structured-output",
        "streaming",
        "document",
    )
    assert listed_features({"id": "x", "supported_parameters": ["temperature"]}) == ("streaming",)


def test_azure_list_models_returns_chat_and_embedding_base_models(fake_providers):
    types = by_name(
        adapter("azure_openai").list_models(credentials(fake_providers, "azure_openai"))
    )
    assert types["gpt-4o-2024-08-06"] == "llm"
    assert types["text-embedding-3-large"] == "text-embedding"
    assert "dall-e-3-3.0" not in types


@pytest.mark.parametrize("provider_key", ["stability", "elevenlabs"])
def test_account_providers_list_the_catalog_models_after_checking_the_key(
    fake_providers, provider_key
):
    models = adapter(provider_key).list_models(credentials(fake_providers, provider_key))
    assert {m.name for m in models} == catalog_names(provider_key)
    assert len(fake_providers.requests) == 1

    creds = credentials(fake_providers, provider_key, "sk-invalid-1")
    with pytest.raises(AuthenticationFailed):
        adapter(provider_key).list_models(creds)


@pytest.mark.parametrize("provider_key", ["openai", "anthropic", "gemini", "cohere", "ollama"])
def test_list_models_raises_the_same_errors(fake_providers, provider_key):
    creds = scenario_credentials(fake_providers, provider_key, "ratelimited")
    with pytest.raises(RateLimited):
        adapter(provider_key).list_models(creds)


# -- the shared helpers -----------------------------------------------------------------------


def response(status: int, body=b"", **headers) -> Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(
        status=status,
        headers=HTTPHeaderDict({k.replace("_", "-"): v for k, v in headers.items()}),
        content=content,
        url="https://api.example.com/v1/models",
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry_after": "7"}, 7.0),
        ({"retry_after": "-3"}, 0.0),
        ({"retry_after": "99999"}, 3600.0),
        ({"retry_after": "nan"}, None),
        ({"retry_after": "soon"}, None),
        ({"retry_after_ms": "1500", "retry_after": "9"}, 1.5),
        ({"retry_after_ms": "nan", "retry_after": "9"}, 9.0),
        ({"retry_after": "Wed, 21 Oct 2015 07:28:00 -0000"}, 0.0),  # naive date, in the past
        ({}, None),
    ],
)
def test_retry_after(headers, expected):
    assert retry_after(response(429, **headers)) == expected


def test_base_classification_quota_precedence():
    openai = adapter("openai")

    def error_with(status: int, code: str) -> ProviderError:
        body = {"error": {"message": "m", "type": "t", "code": code}}
        return openai.classify(response(status, body))

    assert isinstance(error_with(400, "insufficient_quota"), QuotaExhausted)
    assert isinstance(error_with(429, "quota_exceeded"), QuotaExhausted)
    # "quota" alone only counts with a quota-like status.
    assert isinstance(error_with(400, "quota_exceeded"), BadRequest)
    assert isinstance(error_with(429, "rate_limit_exceeded"), RateLimited)
