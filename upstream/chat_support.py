"""What each provider does with each field of OpenAI's chat surface, read off the adapters.

Each row is a small probe request using one field (or one value of it) and each cell is what
the provider's adapter says of it in `check_chat`, the check every call goes through before
anything is sent: supported, or refused with the adapter's own reason. The gateway's docs
(docs/gateway.md) print this table; tests/upstream/test_chat_support.py regenerates it and
compares, so a change to an adapter that the docs do not show fails the build.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .calling import get_adapter
from .calls import (
    ChatRequest,
    ImagePart,
    Message,
    NamedTool,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
)
from .errors import UnsupportedParameter
from .registry import catalog

# The chat providers, in the order the table shows them.
PROVIDERS = (
    "openai",
    "openai_compatible",
    "azure_openai",
    "anthropic",
    "gemini",
    "cohere",
    "ollama",
)

_USER = Message("user", "What is the weather in Paris?")
_TOOL = Tool("get_weather", "The weather in a city.", {"type": "object", "properties": {}})
_SCHEMA = ResponseFormat(
    "json_schema", {"type": "object", "properties": {"city": {"type": "string"}}}, "answer"
)
_PNG = "data:image/png;base64,iVBORw0KGgo="
_BASE = ChatRequest(model="model", messages=(_USER,))


def _image(url: str) -> ChatRequest:
    return replace(_BASE, messages=(Message("user", (TextPart("What is this?"), ImagePart(url))),))


_ROUND_TRIP = (
    _USER,
    Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city": "Paris"}'),)),
    Message("tool", '{"celsius": 21}', tool_call_id="call_1"),
)

# (field as an application writes it, the probe request)
ROWS: tuple[tuple[str, ChatRequest], ...] = (
    (
        "`temperature`, `top_p`, `max_tokens`, `stop`",
        replace(_BASE, temperature=0.5, top_p=0.9, max_tokens=100, stop=("END",)),
    ),
    ("`max_completion_tokens`", replace(_BASE, max_completion_tokens=100)),
    ("`tools` (functions)", replace(_BASE, tools=(_TOOL,))),
    ('`tool_choice: "auto"`', replace(_BASE, tools=(_TOOL,), tool_choice="auto")),
    ('`tool_choice: "none"`', replace(_BASE, tools=(_TOOL,), tool_choice="none")),
    ('`tool_choice: "required"`', replace(_BASE, tools=(_TOOL,), tool_choice="required")),
    (
        "`tool_choice` naming a function",
        replace(_BASE, tools=(_TOOL,), tool_choice=NamedTool("get_weather")),
    ),
    ("`parallel_tool_calls: false`", replace(_BASE, tools=(_TOOL,), parallel_tool_calls=False)),
    ("assistant `tool_calls` and `tool` messages", replace(_BASE, messages=_ROUND_TRIP)),
    (
        "`response_format: json_object`",
        replace(_BASE, response_format=ResponseFormat("json_object")),
    ),
    ("`response_format: json_schema`", replace(_BASE, response_format=_SCHEMA)),
    (
        "`response_format` together with `tools`",
        replace(_BASE, response_format=_SCHEMA, tools=(_TOOL,)),
    ),
    ("`image_url` with an https URL", _image("https://example.com/cat.png")),
    ("`image_url` with a `data:` URL", _image(_PNG)),
    ("`reasoning_effort`", replace(_BASE, reasoning_effort="low")),
    (
        "`reasoning_effort` with `temperature`",
        replace(_BASE, reasoning_effort="low", temperature=0.5),
    ),
    ("`seed`", replace(_BASE, seed=7)),
    ("`presence_penalty`", replace(_BASE, presence_penalty=0.5)),
    ("`frequency_penalty`", replace(_BASE, frequency_penalty=0.5)),
    ("`logit_bias`", replace(_BASE, logit_bias={"50256": -100})),
    ("`logprobs`", replace(_BASE, logprobs=True)),
    ("`top_logprobs`", replace(_BASE, logprobs=True, top_logprobs=2)),
    ("`user`", replace(_BASE, user="user-1")),
    ("`messages[].name`", replace(_BASE, messages=(replace(_USER, name="alice"),))),
    ("a field the gateway does not know", replace(_BASE, extra={"store": True})),
)


@dataclass(frozen=True)
class Cell:
    supported: bool
    reason: str = ""  # why not, in the adapter's words

    def __str__(self) -> str:
        return "yes" if self.supported else f"no: {self.reason}"


@dataclass(frozen=True)
class ChatSupport:
    providers: tuple[tuple[str, str], ...]  # (key, label)
    rows: tuple[tuple[str, tuple[Cell, ...]], ...]  # (field, a cell per provider)


def chat_support() -> ChatSupport:
    """The table, asked of each provider's adapter now."""
    specs = {p.key: p for p in catalog()}
    adapters = [get_adapter(specs[key]).adapter for key in PROVIDERS]
    rows = []
    for label, request in ROWS:
        cells = []
        for adapter in adapters:
            try:
                adapter.check_chat(request, features=None)
            except UnsupportedParameter as refusal:
                cells.append(Cell(False, refusal.reason or refusal.message))
            else:
                cells.append(Cell(True))
        rows.append((label, tuple(cells)))
    return ChatSupport(
        providers=tuple((key, specs[key].label) for key in PROVIDERS), rows=tuple(rows)
    )


def markdown_table(support: ChatSupport | None = None) -> str:
    """The table in Markdown, as docs/gateway.md holds it."""
    support = support or chat_support()
    lines = [
        "| field | " + " | ".join(label for _, label in support.providers) + " |",
        "|---|" + "---|" * len(support.providers),
    ]
    for label, cells in support.rows:
        text = [str(cell).replace("|", "\\|") for cell in cells]
        lines.append(f"| {label} | " + " | ".join(text) + " |")
    return "\n".join(lines) + "\n"
