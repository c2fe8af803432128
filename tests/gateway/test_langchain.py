"""LangChain, unchanged, through the gateway (issue 21): `ChatOpenAI(...).bind_tools([...])`
gets a tool call back, the tool runs, and its result goes back for the final answer, as one
step of an agent loop does."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.factories import CredentialFactory


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return json.dumps({"city": city, "celsius": 21})


@pytest.fixture
def chat(live_server, api_key):
    def make(model: str) -> ChatOpenAI:
        return ChatOpenAI(
            model=model,
            api_key=api_key.secret,
            base_url=f"{live_server.url}/v1",
            max_retries=0,
            timeout=10,
        )

    return make


@pytest.fixture
def anthropic_key(workspace, fake_providers):
    return CredentialFactory(
        workspace=workspace,
        provider="anthropic",
        name="anthropic-key",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-1"}),
        config={"base_url": fake_providers.base_url("anthropic")},
    )


@pytest.mark.parametrize(
    ("model", "prefix"),
    [("openai/gpt-4o", "/openai/"), ("anthropic/claude-sonnet-4-5-20250929", "/anthropic/")],
)
def test_a_bind_tools_agent_step_runs_through_the_gateway(
    chat, openai_key, anthropic_key, fake_providers, model, prefix
):
    llm = chat(model).bind_tools([get_weather])
    messages = [HumanMessage("What is the weather in Paris?")]

    reply = llm.invoke(messages)

    [call] = reply.tool_calls
    assert call["name"] == "get_weather" and call["id"]
    assert isinstance(call["args"], dict)
    sent = json.loads(
        [r for r in fake_providers.requests_to(prefix) if r.method == "POST"][-1].body
    )
    assert "tools" in sent  # the tools reached the provider, in its own format

    messages += [reply, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    final = llm.invoke(messages)

    assert final.tool_calls == []
    assert final.content
