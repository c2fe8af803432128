"""The official openai SDK, unchanged, using the chat surface applications build on (issue 21)
through the gateway: tool calls whole and streamed with a full round trip, structured output
parsed into a Pydantic model, images by URL and data URL, on every provider the fakes serve;
and no silent drop: every field of the SDK's `CompletionCreateParams` either reaches the
provider or comes back as a 400 naming it."""

from __future__ import annotations

import base64
import json

import openai
import pytest
from openai.types.chat import completion_create_params
from pydantic import BaseModel

from tests.factories import CredentialFactory, CustomModelFactory

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image").decode()
DATA_URL = f"data:image/png;base64,{PNG}"

# The SDK's tests call the production server process, which sees committed rows only.
SERVED = pytest.mark.django_db(transaction=True)

# provider → (model id through the gateway, the fake's path prefix)
PROVIDERS = {
    "openai": ("openai/gpt-4o", "/openai/"),
    "anthropic": ("anthropic/claude-sonnet-4-5-20250929", "/anthropic/"),
    "gemini": ("gemini/gemini-2.5-flash", "/gemini/"),
    "cohere": ("cohere/command-a-03-2025", "/cohere/"),
    "ollama": ("ollama/llama3.2", "/ollama/"),
    "azure_openai": ("azure_openai/chat-deployment", "/azure/"),
}


@pytest.fixture
def sdk(server, redis_url, api_key, openai_key):
    client = openai.OpenAI(
        api_key=api_key.secret, base_url=f"{server.url}/v1", max_retries=0, timeout=10
    )
    yield client
    client.close()


@pytest.fixture
def every_provider(workspace, fake_providers, openai_key):
    """A default credential for each chat provider; custom models where there is no catalog."""
    for key in ("anthropic", "gemini", "cohere"):
        CredentialFactory(
            workspace=workspace,
            provider=key,
            name=f"{key}-key",
            is_default=True,
            secret_data=json.dumps({"api_key": "sk-test-valid-1"}),
            config={"base_url": fake_providers.base_url(key)},
        )
    CustomModelFactory(workspace=workspace, provider="ollama", name="llama3.2")
    CredentialFactory(
        workspace=workspace,
        provider="ollama",
        model_name="llama3.2",
        model_type="llm",
        name="ollama-key",
        is_default=True,
        secret_data=json.dumps({}),
        config={"base_url": fake_providers.base_url("ollama")},
    )
    fake_providers.deployments["chat-deployment"] = "gpt-4o"
    CustomModelFactory(workspace=workspace, provider="azure_openai", name="chat-deployment")
    CredentialFactory(
        workspace=workspace,
        provider="azure_openai",
        model_name="chat-deployment",
        model_type="llm",
        name="azure-key",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-1"}),
        config={"base_url": fake_providers.base_url("azure_openai"), "base_model": "gpt-4o"},
    )
    return fake_providers


def sent(fake_providers, prefix: str) -> dict:
    """The JSON body of the last request the provider received."""
    request = [r for r in fake_providers.requests_to(prefix) if r.method == "POST"][-1]
    return json.loads(request.body)


@SERVED
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_tool_round_trip_plain_and_streamed(sdk, every_provider, provider):
    model, _ = PROVIDERS[provider]
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    completion = sdk.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER_TOOL, TIME_TOOL]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather" and call.id
    assert json.loads(call.function.arguments) == {"city": "What is the weather in Paris?"}

    stream = sdk.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER_TOOL], stream=True
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            entry = calls.setdefault(delta.index, {"id": delta.id, "name": None, "arguments": ""})
            entry["name"] = entry["name"] or delta.function.name
            entry["arguments"] += delta.function.arguments or ""
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert finish == "tool_calls"
    assert calls[0]["id"] and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "What is the weather in Paris?"}

    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    answer = sdk.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == "Tool said: sunny, 21 C"
    assert answer.choices[0].finish_reason == "stop"


@SERVED
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "cohere", "ollama"])
def test_parallel_tool_calls(sdk, every_provider, provider):
    model, _ = PROVIDERS[provider]
    completion = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "parallel please"}],
        tools=[WEATHER_TOOL, TIME_TOOL],
    )
    names = [call.function.name for call in completion.choices[0].message.tool_calls]
    assert names == ["get_weather", "get_time"]
    assert len({call.id for call in completion.choices[0].message.tool_calls}) == 2


class Person(BaseModel):
    name: str
    age: int


@SERVED
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "cohere", "ollama"])
def test_structured_output_parses_into_a_pydantic_model(sdk, every_provider, provider):
    model, prefix = PROVIDERS[provider]
    completion = sdk.beta.chat.completions.parse(
        model=model,
        messages=[{"role": "user", "content": "Ann"}],
        response_format=Person,
    )
    assert completion.choices[0].message.parsed == Person(name="Ann", age=42)
    assert completion.choices[0].finish_reason == "stop"


@SERVED
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "ollama"])
def test_images_by_data_url_reach_a_vision_model(sdk, every_provider, provider):
    model, prefix = PROVIDERS[provider]
    if provider == "ollama":
        model = "ollama/llama3.2"
    completion = sdk.chat.completions.create(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": DATA_URL}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "You said: What is this? [1 image(s)]"
    assert PNG in json.dumps(sent(every_provider, prefix))


@SERVED
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_image_url_goes_to_providers_that_fetch_it_themselves(sdk, every_provider, provider):
    model, prefix = PROVIDERS[provider]
    completion = sdk.chat.completions.create(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And this?"},
                    {"type": "image_url", "image_url": {"url": "https://img.example/cat.png"}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "You said: And this? [1 image(s)]"
    assert "https://img.example/cat.png" in json.dumps(sent(every_provider, prefix))


@SERVED
@pytest.mark.parametrize(
    ("model", "url", "words"),
    [
        ("gemini/gemini-2.5-flash", "https://127.0.0.1/cat.png", "Address not allowed"),
        ("gemini/gemini-2.5-flash", "https://169.254.169.254/latest", "Address not allowed"),
        ("openai/gpt-4o", "http://img.example/cat.png", "https URL"),
        ("openai/gpt-4o", "data:text/html;base64,PGh0bWw+", "must hold an image"),
        ("cohere/command-a-03-2025", DATA_URL, "no vision feature"),
    ],
)
def test_a_refused_image_is_a_400_naming_it(sdk, every_provider, model, url, words):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(
            model=model,
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
            ],
        )
    assert refused.value.param.startswith("messages[0].content[0]")
    assert words in refused.value.message


# -- no silent drop: every field of the SDK's request, on every provider --------------------------

# A value for every field of CompletionCreateParams, and the text that shows it reached the
# provider (in whatever shape that provider takes it).
FIELD_SAMPLES: dict[str, tuple[object, str]] = {
    "audio": ({"voice": "alloy", "format": "wav"}, '"alloy"'),
    "frequency_penalty": (0.37, "0.37"),
    "function_call": ("auto", '"function_call"'),
    "functions": ([{"name": "legacy_marker", "parameters": {}}], "legacy_marker"),
    "logit_bias": ({"1234": 5}, '"1234"'),
    "logprobs": (True, '"logprobs": true'),
    "max_completion_tokens": (321, "321"),
    "max_tokens": (123, "123"),
    "messages": ([{"role": "user", "content": "marker text"}], "marker text"),
    "metadata": ({"k": "metadata_marker"}, "metadata_marker"),
    "modalities": (["text"], '"modalities"'),
    "model": (None, ""),  # each provider's model
    "moderation": ({"type": "auto"}, '"moderation"'),
    "n": (1, ""),  # one choice is what every provider gives
    "parallel_tool_calls": (False, "parallel"),
    "prediction": ({"type": "content", "content": "prediction_marker"}, "prediction_marker"),
    "presence_penalty": (0.41, "0.41"),
    "prompt_cache_key": ("cache_marker", "cache_marker"),
    "prompt_cache_options": ({"ttl": "1h"}, '"prompt_cache_options"'),
    "prompt_cache_retention": ("24h", '"prompt_cache_retention"'),
    "reasoning_effort": ("high", ""),
    "response_format": ({"type": "json_object"}, "json"),
    "safety_identifier": ("safety_marker", "safety_marker"),
    "seed": (4242, "4242"),
    "service_tier": ("default", '"service_tier"'),
    "stop": (["zz_stop"], "zz_stop"),
    "store": (True, '"store": true'),
    "stream": (True, ""),
    "stream_options": ({"include_usage": True}, ""),
    "temperature": (0.33, "0.33"),
    "tool_choice": ("required", ""),
    "tools": ([WEATHER_TOOL], "get_weather"),
    "top_logprobs": (3, '"top_logprobs": 3'),
    "top_p": (0.77, "0.77"),
    "user": ("user_marker", "user_marker"),
    "verbosity": ("low", '"verbosity"'),
    "web_search_options": ({"search_context_size": "low"}, "search_context_size"),
}
# Evidence that depends on the provider's shape.
EVIDENCE = {
    ("anthropic", "parallel_tool_calls"): "disable_parallel_tool_use",
    ("anthropic", "reasoning_effort"): "budget_tokens",
    ("gemini", "reasoning_effort"): "thinkingBudget",
    ("ollama", "reasoning_effort"): '"think"',
    ("anthropic", "tool_choice"): '"any"',
    ("cohere", "tool_choice"): "REQUIRED",
    ("openai", "tool_choice"): '"required"',
    ("azure_openai", "tool_choice"): '"required"',
    ("openai", "reasoning_effort"): '"high"',
    ("azure_openai", "reasoning_effort"): '"high"',
    ("anthropic", "response_format"): '"json_object"',  # the forced tool's name
    ("gemini", "response_format"): "application/json",
}
# Fields a request needs beside the one tried.
COMPANIONS = {
    "parallel_tool_calls": {"tools": [WEATHER_TOOL]},
    "tool_choice": {"tools": [WEATHER_TOOL]},
    "top_logprobs": {"logprobs": True},
    "stream_options": {"stream": True},
}
# The walk's models: able to reason (reasoning_effort), custom ones where there is no catalog.
WALK_MODELS = {**{p: m for p, (m, _) in PROVIDERS.items()}, "openai": "openai/o3"}


def test_the_walk_covers_every_field_of_the_installed_sdk():
    fields = set(completion_create_params.CompletionCreateParamsBase.__annotations__) | {"stream"}
    assert fields == set(FIELD_SAMPLES), "a new SDK field: add it to FIELD_SAMPLES"


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_no_field_is_dropped_silently(every_provider, client, bearer, provider):
    """Sent as raw JSON, not through the SDK, whose own checks would refuse some values."""
    model, prefix = WALK_MODELS[provider], PROVIDERS[provider][1]
    refused, reached = [], []
    for field, (value, evidence) in FIELD_SAMPLES.items():
        if field in ("model", "messages", "n"):
            continue
        body = {
            "model": model,
            "messages": [{"role": "user", "content": "marker text"}],
            **COMPANIONS.get(field, {}),
            field: value,
        }
        every_provider.reset()
        every_provider.deployments["chat-deployment"] = "gpt-4o"
        response = client.post(
            "/v1/chat/completions",
            json.dumps(body),
            content_type="application/json",
            headers=bearer,
        )
        status, payload = (
            response.status_code,
            b"".join(
                response.streaming_content if response.streaming else [response.content]
            ).decode(),
        )
        if status == 400:
            error = json.loads(payload)["error"]
            # the field, or the companion it needs when that is what the provider refuses
            assert error["param"] in (field, *COMPANIONS.get(field, {})), (field, error)
            assert error["param"] in error["message"]
            assert model.split("/", 1)[1] in error["message"]
            refused.append(field)
            continue
        assert status == 200, (field, status, payload)
        evidence = EVIDENCE.get((provider, field), evidence)
        if evidence:
            posted = [r for r in every_provider.requests_to(prefix) if r.method == "POST"]
            assert posted, (field, "nothing reached the provider")
            text = posted[-1].body.decode()
            assert evidence in text, (field, evidence, text[:400])
        reached.append(field)
    assert reached and set(reached) | set(refused) >= set(FIELD_SAMPLES) - {
        "model",
        "messages",
        "n",
    }
    if provider in ("openai", "azure_openai"):
        assert refused == [], refused
