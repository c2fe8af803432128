"""OpenAI's chat surface (issue 21) mapped onto each provider, as pure functions: the request an
adapter builds and the answer it reads, driven by recorded answers on a transport that opens
no socket. Tools (plain, streamed, parallel, a round trip), a schema answer, images by URL and
data URL, reasoning effort, and what each provider refuses (naming the field)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.upstream.replay import RecordedTransport, Stream, forbid_sockets
from upstream.calling import get_adapter
from upstream.calls import (
    ChatRequest,
    ImagePart,
    Message,
    NamedTool,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
)
from upstream.errors import UnsupportedParameter
from upstream.http import Response
from upstream.registry import get_provider

CREDENTIALS = {"api_key": "sk-test-valid-1", "base_url": "https://provider.test"}
WEATHER = Tool(
    "get_weather",
    "The weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = Tool("get_time", "", {"type": "object", "properties": {"zone": {"type": "string"}}})
ASK = (Message("user", "Weather in Paris?"),)
ROUND_TRIP = (
    Message("system", "Be brief."),
    Message("user", "Weather in Paris?"),
    Message("assistant", "", (ToolCall("call_1", "get_weather", '{"city": "Paris"}'),)),
    Message("tool", "sunny", tool_call_id="call_1"),
)
PERSON = ResponseFormat(
    "json_schema",
    {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": ["integer", "null"]}},
        "required": ["name", "age"],
        "additionalProperties": False,
    },
    "person",
    strict=True,
)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake").decode()
DATA_URL = f"data:image/png;base64,{PNG}"
IMAGES = (
    Message(
        "user",
        (TextPart("What is this?"), ImagePart("https://img.test/cat.png"), ImagePart(DATA_URL)),
    ),
)


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch):
    forbid_sockets(monkeypatch)


def ok(body) -> Response:
    return Response(200, {"content-type": "application/json"}, json.dumps(body).encode())


def sse(events: list, *, named: bool = False) -> Stream:
    text = "".join(
        (f"event: {e['type']}\n" if named else "") + f"data: {json.dumps(e)}\n\n" for e in events
    )
    return Stream([text.encode()[i : i + 7] for i in range(0, len(text.encode()), 7)])


def call(provider: str, request: ChatRequest, *answers, stream: bool = False):
    """The adapter's call on recorded answers: (the JSON body it sent, its result or chunks)."""
    transport = RecordedTransport(*answers)
    client = get_adapter(get_provider(provider), transport)
    if stream:
        result = list(client.chat_stream(CREDENTIALS, request))
    else:
        result = client.chat(CREDENTIALS, request)
    return transport.requests[-1].json, result


def tool_deltas(chunks) -> list[ToolCallDelta]:
    return [delta for chunk in chunks for delta in chunk.tool_calls]


def assembled(chunks) -> dict[int, dict]:
    """Streamed tool calls put together as a client does: id and name first, then text."""
    calls: dict[int, dict] = {}
    for delta in tool_deltas(chunks):
        if delta.index not in calls:
            assert delta.id and delta.name, "a call's first delta carries its id and name"
            calls[delta.index] = {"id": delta.id, "name": delta.name, "arguments": ""}
        else:
            assert delta.id is None and delta.name is None
        calls[delta.index]["arguments"] += delta.arguments
    return calls


# -- OpenAI (and Azure, OpenAI-compatible): passed through ---------------------------------------


def test_openai_passes_the_whole_surface_through():
    request = ChatRequest(
        "gpt-4o",
        ROUND_TRIP + IMAGES,
        tools=(WEATHER,),
        tool_choice=NamedTool("get_weather"),
        parallel_tool_calls=False,
        response_format=PERSON,
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logit_bias={"50256": -100},
        logprobs=True,
        top_logprobs=2,
        user="u-1",
        max_tokens=10,
        max_completion_tokens=20,
        reasoning_effort="low",
        extra={"store": True, "metadata": {"k": "v"}},
    )
    answer = {
        "model": "gpt-4o",
        "choices": [
            {
                "message": {"role": "assistant", "content": None, "refusal": None},
                "finish_reason": "stop",
            }
        ],
    }
    body, _ = call("openai", request, ok(answer))
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": PERSON.schema, "strict": True},
    }
    assert body["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert body["messages"][3] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}
    assert body["messages"][4]["content"][1:] == [
        {"type": "image_url", "image_url": {"url": "https://img.test/cat.png"}},
        {"type": "image_url", "image_url": {"url": DATA_URL}},
    ]
    for name, value in {
        "parallel_tool_calls": False,
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"50256": -100},
        "logprobs": True,
        "top_logprobs": 2,
        "user": "u-1",
        "max_tokens": 10,
        "max_completion_tokens": 20,
        "reasoning_effort": "low",
        "store": True,
        "metadata": {"k": "v"},
    }.items():
        assert body[name] == value, name


def test_openai_reads_tool_calls_whole_and_streamed_with_reasoning_tokens():
    calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"},
        },
        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]
    answer = {
        "choices": [
            {
                "message": {"role": "assistant", "content": None, "tool_calls": calls},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 5,
            "completion_tokens": 9,
            "completion_tokens_details": {"reasoning_tokens": 4},
        },
    }
    request = ChatRequest("o3", ASK, tools=(WEATHER, TIME))
    _, result = call("openai", request, ok(answer))
    assert [(c.id, c.name) for c in result.tool_calls] == [
        ("call_a", "get_weather"),
        ("call_b", "get_time"),
    ]
    assert result.finish_reason == "tool_calls" and result.usage.reasoning_tokens == 4

    def chunk(delta, finish=None):
        return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    head = {"index": 0, "id": "call_a", "type": "function"}
    head["function"] = {"name": "get_weather", "arguments": ""}
    events = [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [head]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
        chunk({}, "tool_calls"),
    ]
    stream = sse(events)
    stream.pieces.append(b"data: [DONE]\n\n")
    _, chunks = call("openai", request, stream, stream=True)
    assert assembled(chunks) == {
        0: {"id": "call_a", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    }
    assert chunks[-1].finish_reason == "tool_calls"


def test_azure_passes_tools_and_unknown_fields_to_the_deployment():
    request = ChatRequest("gpt-4o", ASK, tools=(WEATHER,), extra={"service_tier": "auto"})
    answer = {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}
    body, _ = call("azure_openai", request, ok(answer))
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["service_tier"] == "auto"


# -- Anthropic -----------------------------------------------------------------------------------


def test_anthropic_maps_tools_a_round_trip_and_parallel_off():
    request = ChatRequest(
        "claude-sonnet-4-5-20250929",
        ROUND_TRIP,
        tools=(WEATHER,),
        tool_choice="required",
        parallel_tool_calls=False,
        user="u-1",
    )
    answer = {"content": [{"type": "text", "text": "Sunny."}], "stop_reason": "end_turn"}
    body, result = call("anthropic", request, ok(answer))
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city.",
            "input_schema": WEATHER.parameters,
        }
    ]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"}],
        },
    ]
    assert result.content == "Sunny."


def test_anthropic_reads_parallel_tool_use_whole_and_streamed():
    answer = {
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "P"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    request = ChatRequest("claude-sonnet-4-5-20250929", ASK, tools=(WEATHER, TIME))
    _, result = call("anthropic", request, ok(answer))
    assert result.content == "Checking." and result.finish_reason == "tool_calls"
    assert [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("toolu_1", "get_weather", {"city": "P"}),
        ("toolu_2", "get_time", {}),
    ]
    events = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 3}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hm"}},
        {"type": "content_block_stop", "index": 0},
    ]
    for index, (tool_id, name, pieces) in enumerate(
        [("toolu_1", "get_weather", ['{"ci', 'ty": "P"}']), ("toolu_2", "get_time", ["{}"])],
        start=1,
    ):
        block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
        events.append({"type": "content_block_start", "index": index, "content_block": block})
        for piece in ["", *pieces]:
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append({"type": "content_block_delta", "index": index, "delta": delta})
    events += [
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 8},
        },
        {"type": "message_stop"},
    ]
    _, chunks = call("anthropic", request, sse(events, named=True), stream=True)
    assert "".join(c.delta for c in chunks) == "Hm"
    assert assembled(chunks) == {
        0: {"id": "toolu_1", "name": "get_weather", "arguments": '{"city": "P"}'},
        1: {"id": "toolu_2", "name": "get_time", "arguments": "{}"},
    }
    assert chunks[-1].finish_reason == "tool_calls"


def test_anthropic_answers_a_schema_through_a_forced_tool_as_content():
    request = ChatRequest("claude-sonnet-4-5-20250929", ASK, response_format=PERSON)
    answer = {
        "content": [{"type": "tool_use", "id": "t", "name": "person", "input": {"name": "Ann"}}],
        "stop_reason": "tool_use",
    }
    body, result = call("anthropic", request, ok(answer))
    assert body["tools"][0]["name"] == "person"
    assert body["tools"][0]["input_schema"] == PERSON.schema
    assert body["tool_choice"] == {"type": "tool", "name": "person"}
    assert json.loads(result.content) == {"name": "Ann"}
    assert result.finish_reason == "stop" and result.tool_calls == ()
    block = {"type": "tool_use", "id": "t", "name": "person", "input": {}}
    events = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 3}}},
        {"type": "content_block_start", "index": 0, "content_block": block},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"name"'},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": ': "Ann"}'},
        },
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 8},
        },
        {"type": "message_stop"},
    ]
    _, chunks = call("anthropic", request, sse(events, named=True), stream=True)
    assert json.loads("".join(c.delta for c in chunks)) == {"name": "Ann"}
    assert tool_deltas(chunks) == [] and chunks[-1].finish_reason == "stop"


def test_anthropic_images_thinking_and_max_completion_tokens():
    request = ChatRequest(
        "claude-sonnet-4-5-20250929", IMAGES, reasoning_effort="medium", max_completion_tokens=500
    )
    answer = {
        "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "A cat."}],
        "stop_reason": "end_turn",
    }
    body, result = call("anthropic", request, ok(answer))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "url", "url": "https://img.test/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    ]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert body["max_tokens"] == 8192 + 500
    assert result.content == "A cat."


# -- Gemini --------------------------------------------------------------------------------------


def test_gemini_maps_declarations_a_round_trip_schema_and_thinking():
    request = ChatRequest(
        "gemini-2.5-flash",
        ROUND_TRIP,
        tools=(WEATHER,),
        tool_choice=NamedTool("get_weather"),
        response_format=PERSON,
        reasoning_effort="low",
        seed=3,
    )
    answer = {"candidates": [{"content": {"parts": [{"text": "{}"}]}, "finishReason": "STOP"}]}
    body, _ = call("gemini", request, ok(answer))
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "The weather in a city.",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                }
            ]
        }
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}
            ],
        },
    ]
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {  # additionalProperties left out, null as nullable
        "type": "OBJECT",
        "properties": {"name": {"type": "STRING"}, "age": {"type": "INTEGER", "nullable": True}},
        "required": ["name", "age"],
    }
    assert config["thinkingConfig"] == {"thinkingBudget": 1024} and config["seed"] == 3


def test_gemini_makes_up_call_ids_and_streams_each_call_as_deltas():
    parts = [
        {"functionCall": {"name": "get_weather", "args": {"city": "P"}}},
        {"functionCall": {"name": "get_time", "args": {}}},
    ]
    answer = {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP"}],
        "usageMetadata": {
            "promptTokenCount": 4,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 6,
        },
    }
    request = ChatRequest("gemini-2.5-flash", ASK, tools=(WEATHER, TIME))
    _, result = call("gemini", request, ok(answer))
    assert [c.name for c in result.tool_calls] == ["get_weather", "get_time"]
    assert all(c.id.startswith("call_") for c in result.tool_calls)
    assert len({c.id for c in result.tool_calls}) == 2
    assert result.finish_reason == "tool_calls"
    assert (result.usage.completion_tokens, result.usage.reasoning_tokens) == (11, 6)
    _, chunks = call("gemini", request, sse([answer]), stream=True)
    calls = assembled(chunks)
    assert [calls[0]["name"], calls[1]["name"]] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["arguments"]) == {"city": "P"}
    assert chunks[-1].finish_reason == "tool_calls"


def test_gemini_fetches_a_remote_image_and_sends_inline_data():
    image = Response(200, {"content-type": "image/png"}, b"\x89PNG\r\n\x1a\n fake")
    answer = {"candidates": [{"content": {"parts": [{"text": "A cat."}]}, "finishReason": "STOP"}]}
    transport = RecordedTransport(image, ok(answer))
    client = get_adapter(get_provider("gemini"), transport)
    request = client.prepare_chat(
        ChatRequest("gemini-2.5-flash", IMAGES),
        features=("vision",),
        max_image_bytes=1000,
    )
    client.chat(CREDENTIALS, request)
    fetch, generate = transport.requests
    assert fetch.url == "https://img.test/cat.png" and fetch.max_bytes == 1000
    assert "api_key" not in json.dumps(dict(fetch.headers)).lower()  # no credential to the image
    assert generate.json["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inline_data": {"mime_type": "image/png", "data": PNG}},
        {"inline_data": {"mime_type": "image/png", "data": PNG}},
    ]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (Response(200, {"content-type": "text/html"}, b"<html>"), "not an image"),
        (Response(404, {"content-type": "text/plain"}, b"no"), "HTTP 404"),
    ],
)
def test_an_image_url_that_is_not_an_image_is_a_400_naming_it(answer, words):
    client = get_adapter(get_provider("ollama"), RecordedTransport(answer))
    with pytest.raises(UnsupportedParameter) as refused:
        client.prepare_chat(ChatRequest("llava", IMAGES), features=None, max_image_bytes=1000)
    assert refused.value.field == "messages[0].content[1].image_url.url"
    assert words in refused.value.message and refused.value.http_status == 400


# -- Cohere --------------------------------------------------------------------------------------


def test_cohere_maps_tools_a_round_trip_and_a_schema():
    request = ChatRequest(
        "command-a-03-2025",
        ROUND_TRIP,
        tools=(Tool("get_weather", "", WEATHER.parameters, strict=True),),
        tool_choice="required",
        response_format=PERSON,
        seed=1,
    )
    answer = {"finish_reason": "COMPLETE", "message": {"content": [{"type": "text", "text": "{}"}]}}
    body, _ = call("cohere", request, ok(answer))
    assert body["tool_choice"] == "REQUIRED" and body["strict_tools"] is True
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["messages"][2:] == [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    assert body["response_format"] == {"type": "json_object", "json_schema": PERSON.schema}
    assert body["seed"] == 1


def test_cohere_reads_tool_calls_whole_and_streamed():
    calls = [
        {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
        {"id": "t2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]
    answer = {
        "finish_reason": "TOOL_CALL",
        "message": {"role": "assistant", "tool_plan": "I will look.", "tool_calls": calls},
    }
    request = ChatRequest("command-a-03-2025", ASK, tools=(WEATHER, TIME))
    _, result = call("cohere", request, ok(answer))
    assert result.content == "I will look." and result.finish_reason == "tool_calls"
    assert [c.id for c in result.tool_calls] == ["t1", "t2"]
    events = [{"type": "message-start", "delta": {"message": {"role": "assistant"}}}]
    events.append({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will"}}})
    for index, (call_id, name) in enumerate([("t1", "get_weather"), ("t2", "get_time")]):
        opened = {"id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        events.append(
            {
                "type": "tool-call-start",
                "index": index,
                "delta": {"message": {"tool_calls": opened}},
            }
        )
        for piece in ('{"a"', ": 1}"):
            events.append(
                {
                    "type": "tool-call-delta",
                    "index": index,
                    "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}},
                }
            )
        events.append({"type": "tool-call-end", "index": index})
    events.append({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL"}})
    _, chunks = call("cohere", request, sse(events, named=True), stream=True)
    assert "".join(c.delta for c in chunks) == "I will"
    assert assembled(chunks) == {
        0: {"id": "t1", "name": "get_weather", "arguments": '{"a": 1}'},
        1: {"id": "t2", "name": "get_time", "arguments": '{"a": 1}'},
    }
    assert chunks[-1].finish_reason == "tool_calls"


# -- Ollama --------------------------------------------------------------------------------------


def test_ollama_maps_tools_a_round_trip_schema_images_and_think():
    request = ChatRequest(
        "llava",
        ROUND_TRIP + (Message("user", (TextPart("And this?"), ImagePart(DATA_URL))),),
        tools=(WEATHER,),
        response_format=PERSON,
        reasoning_effort="high",
        seed=9,
    )
    answer = {
        "message": {"role": "assistant", "content": "{}"},
        "done": True,
        "done_reason": "stop",
    }
    body, _ = call("ollama", request, ok(answer))
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": WEATHER.parameters,
        },
    }
    assert body["messages"][2:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
        {"role": "user", "content": "And this?", "images": [PNG]},
    ]
    assert body["format"] == PERSON.schema and body["think"] == "high"
    assert body["options"]["seed"] == 9


def test_ollama_makes_up_ids_for_whole_calls_and_streams_them_as_deltas():
    message = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"function": {"name": "get_weather", "arguments": {"city": "P"}}},
            {"function": {"name": "get_time", "arguments": {}}},
        ],
    }
    answer = {"message": message, "done": True, "done_reason": "stop"}
    request = ChatRequest("llama3.2", ASK, tools=(WEATHER, TIME))
    _, result = call("ollama", request, ok(answer))
    assert [c.name for c in result.tool_calls] == ["get_weather", "get_time"]
    assert result.finish_reason == "tool_calls" and result.tool_calls[0].id.startswith("call_")
    lines = [
        {"message": message, "done": False},
        {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"},
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    stream = Stream([data], headers={"content-type": "application/x-ndjson"})
    _, chunks = call("ollama", request, stream, stream=True)
    calls = assembled(chunks)
    assert calls[0]["name"] == "get_weather" and json.loads(calls[0]["arguments"]) == {"city": "P"}
    assert chunks[-1].finish_reason == "tool_calls"


# -- refusals: never a silent drop ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "options", "param"),
    [
        ("anthropic", {"seed": 1}, "seed"),
        ("anthropic", {"logit_bias": {"1": 1}}, "logit_bias"),
        ("anthropic", {"logprobs": True}, "logprobs"),
        ("anthropic", {"presence_penalty": 0.1}, "presence_penalty"),
        ("anthropic", {"extra": {"store": True}}, "store"),
        ("anthropic", {"tools": (WEATHER,), "response_format": PERSON}, "response_format"),
        ("anthropic", {"reasoning_effort": "low", "response_format": PERSON}, "reasoning_effort"),
        ("anthropic", {"reasoning_effort": "low", "temperature": 0.5}, "temperature"),
        ("gemini", {"parallel_tool_calls": False, "tools": (WEATHER,)}, "parallel_tool_calls"),
        ("gemini", {"user": "u"}, "user"),
        ("gemini", {"logprobs": True}, "logprobs"),
        ("gemini", {"extra": {"metadata": {}}}, "metadata"),
        ("cohere", {"tools": (WEATHER,), "tool_choice": NamedTool("get_weather")}, "tool_choice"),
        ("cohere", {"logit_bias": {"1": 1}}, "logit_bias"),
        ("ollama", {"tools": (WEATHER,), "tool_choice": "required"}, "tool_choice"),
        ("ollama", {"user": "u"}, "user"),
    ],
)
def test_what_a_provider_cannot_honour_is_refused_naming_the_field(provider, options, param):
    adapter = get_adapter(get_provider(provider)).adapter
    with pytest.raises(UnsupportedParameter) as refused:
        adapter.check_chat(ChatRequest("m", ASK, **options), features=None)
    assert refused.value.field == param and f"`{param}`" in refused.value.message
    assert f"{provider}/m" in refused.value.message


@pytest.mark.parametrize(
    ("provider", "model", "options", "stream", "param"),
    [
        ("anthropic", "claude-2.1", {"tools": (WEATHER,)}, False, "tools"),
        (
            "anthropic",
            "claude-3-5-haiku-20241022",
            {"reasoning_effort": "low"},
            False,
            "reasoning_effort",
        ),
        ("cohere", "command-a-03-2025", {}, False, "messages[0].content[1]"),
        ("cohere", "command-r7b-12-2024", {"response_format": PERSON}, False, "response_format"),
        ("openai", "gpt-4", {}, False, "messages[0].content[1]"),
        ("openai", "gpt-4", {"response_format": PERSON}, True, "response_format"),
    ],
)
def test_a_feature_the_model_lacks_is_refused_naming_the_field(
    provider, model, options, stream, param
):
    spec = get_provider(provider)
    features = next(m.features for m in spec.models if m.name == model)
    messages = IMAGES if param.startswith("messages") else ASK
    with pytest.raises(UnsupportedParameter) as refused:
        get_adapter(spec).adapter.check_chat(
            ChatRequest(model, messages, **options), features=features, stream=stream
        )
    assert refused.value.field == param and model in refused.value.message


def test_a_tool_message_answering_no_call_and_arguments_that_are_no_object_are_refused():
    adapter = get_adapter(get_provider("gemini")).adapter
    orphan = (Message("user", "x"), Message("tool", "r", tool_call_id="call_9"))
    with pytest.raises(UnsupportedParameter) as refused:
        adapter.check_chat(ChatRequest("m", orphan), features=None)
    assert refused.value.field == "messages[1].tool_call_id"
    bad = (Message("user", "x"), Message("assistant", "", (ToolCall("c", "f", "[1]"),)))
    with pytest.raises(UnsupportedParameter) as refused:
        adapter.check_chat(ChatRequest("m", bad), features=None)
    assert refused.value.field == "messages[1].tool_calls[0].function.arguments"
    # OpenAI takes the arguments as the model wrote them
    get_adapter(get_provider("openai")).adapter.check_chat(ChatRequest("m", bad), features=None)


def test_a_recursive_schema_gemini_cannot_say_is_refused():
    loop = {"$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}}}
    loop["$ref"] = "#/$defs/node"
    adapter = get_adapter(get_provider("gemini")).adapter
    with pytest.raises(UnsupportedParameter) as refused:
        adapter.check_chat(
            ChatRequest("m", ASK, response_format=ResponseFormat("json_schema", loop, "n")),
            features=None,
        )
    assert refused.value.field == "response_format"
