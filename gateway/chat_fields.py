"""The fields of a `/v1/chat/completions` request, read and checked: OpenAI's whole chat surface
(messages with content parts and tool calls, tools, tool_choice, response_format and the other
options) into the call types (`upstream.calls`), each fault a 400 naming the field.

What the gateway knows it reads here; any other field is kept as it came (`extra`), for the
OpenAI-family providers that take it, and the adapters refuse it for the others. Whether a
provider or a model can honour what is asked is the adapters' check (`check_chat`), not this
module's: here is only what OpenAI itself would refuse as malformed.
"""

from __future__ import annotations

import re
from typing import Any

from upstream.calls import (
    CHAT_OPTIONS,
    REASONING_EFFORTS,
    ROLES,
    ImagePart,
    Message,
    NamedTool,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
)
from upstream.images import IMAGE_TYPES
from workspaces.exceptions import ApplicationError


class InvalidRequest(ApplicationError):
    """A malformed request (400); `param` names the field at fault."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message, field=param)


# The fields read here (and `model`, `stream`, `stream_options`, `n`, read by the view).
KNOWN_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "n"}) | CHAT_OPTIONS
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOOLS = 128  # OpenAI's limit
MAX_STOP = 4
MAX_USER_LENGTH = 256
IMAGE_DETAILS = ("auto", "low", "high")
_DATA_URL = re.compile(r"^data:([a-z0-9.+/-]+);base64,", re.I)


def chat_options(body: dict[str, Any]) -> dict[str, Any]:
    """The `ChatRequest` options of a request body (every field but model and messages)."""
    options: dict[str, Any] = {
        "temperature": _number(body, "temperature", 0, 2),
        "top_p": _number(body, "top_p", 0, 1),
        "max_tokens": _positive(body, "max_tokens"),
        "max_completion_tokens": _positive(body, "max_completion_tokens"),
        "stop": _stop(body),
        "presence_penalty": _number(body, "presence_penalty", -2, 2),
        "frequency_penalty": _number(body, "frequency_penalty", -2, 2),
        "seed": _integer(body, "seed"),
        "parallel_tool_calls": _boolean(body, "parallel_tool_calls"),
        "logprobs": _boolean(body, "logprobs"),
        "top_logprobs": _top_logprobs(body),
        "logit_bias": _logit_bias(body),
        "user": _user(body),
        "reasoning_effort": _choice(body, "reasoning_effort", REASONING_EFFORTS),
        "response_format": _response_format(body.get("response_format")),
    }
    tools = _tools(body.get("tools"))
    options["tools"] = tools
    options["tool_choice"] = _tool_choice(body.get("tool_choice"), tools)
    if body.get("n", 1) not in (1, None):
        raise InvalidRequest("Only `n: 1` is supported.", "n")
    options["extra"] = {
        name: value
        for name, value in body.items()
        if name not in KNOWN_FIELDS and value is not None
    }
    return {name: value for name, value in options.items() if value not in (None, (), {})}


# -- messages ------------------------------------------------------------------------------------


def messages(body: dict[str, Any]) -> list[Message]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("`messages` must be a non-empty list.", "messages")
    read = [_message(item, index) for index, item in enumerate(raw)]
    if all(m.role == "system" for m in read):
        raise InvalidRequest("Add at least one user message.", "messages")
    return read


def image_url_length(body: dict[str, Any]) -> int:
    """How many characters of the body are image URLs (what the image cap allows beyond the
    text cap)."""
    total = 0
    for item in body.get("messages") or []:
        parts = item.get("content") if isinstance(item, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict) and isinstance(part.get("image_url"), dict):
                url = part["image_url"].get("url")
                total += len(url) if isinstance(url, str) else 0
    return total


def _message(item: Any, index: int) -> Message:
    where = f"messages[{index}]"
    if not isinstance(item, dict):
        raise InvalidRequest("Each message must be an object.", where)
    role = item.get("role")
    role = "system" if role == "developer" else role
    if role not in ROLES:
        raise InvalidRequest(
            "`role` must be system, developer, user, assistant or tool.", f"{where}.role"
        )
    name = item.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise InvalidRequest("`name` must be a non-empty string.", f"{where}.name")
    tool_calls = _tool_calls(item.get("tool_calls"), where) if role == "assistant" else ()
    if role != "assistant" and item.get("tool_calls") is not None:
        raise InvalidRequest("Only assistant messages carry `tool_calls`.", f"{where}.tool_calls")
    tool_call_id = item.get("tool_call_id")
    if role == "tool":
        if not isinstance(tool_call_id, str) or not tool_call_id:
            raise InvalidRequest(
                "A tool message needs the `tool_call_id` it answers.", f"{where}.tool_call_id"
            )
    elif tool_call_id is not None:
        raise InvalidRequest("Only tool messages carry `tool_call_id`.", f"{where}.tool_call_id")
    content = _content(item.get("content"), where, role, optional=bool(tool_calls))
    return Message(role, content, tool_calls, tool_call_id if role == "tool" else None, name)


def _content(value: Any, where: str, role: str, *, optional: bool) -> str | tuple:
    if isinstance(value, str):
        return value
    if value is None and optional:
        return ""
    if not isinstance(value, list):
        raise InvalidRequest("`content` must be a string or a list of parts.", f"{where}.content")
    parts: list[TextPart | ImagePart] = []
    for number, part in enumerate(value):
        at = f"{where}.content[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequest("A text part's `text` must be a string.", f"{at}.text")
            parts.append(TextPart(text))
        elif kind == "image_url" and role == "user":
            parts.append(_image(part.get("image_url"), at))
        elif kind == "image_url":
            raise InvalidRequest("Only user messages carry images.", f"{at}.type")
        elif isinstance(kind, str):
            raise InvalidRequest(
                f"Content parts of type {kind[:40]!r} are not supported: use text"
                + (" or image_url." if role == "user" else "."),
                f"{at}.type",
            )
        else:
            raise InvalidRequest("Each content part must be an object with a `type`.", at)
    if all(isinstance(part, TextPart) for part in parts):
        return "".join(part.text for part in parts)  # text parts alone are just text
    return tuple(parts)


def _image(value: Any, at: str) -> ImagePart:
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        raise InvalidRequest("An image part needs `image_url.url`.", f"{at}.image_url")
    url, detail = value["url"].strip(), value.get("detail")
    if detail is not None and detail not in IMAGE_DETAILS:
        raise InvalidRequest("`detail` must be auto, low or high.", f"{at}.image_url.detail")
    data = _DATA_URL.match(url)
    if data:
        if data.group(1).lower() not in IMAGE_TYPES:
            raise InvalidRequest(
                f"A data URL must hold an image ({', '.join(IMAGE_TYPES)}), base64-encoded.",
                f"{at}.image_url.url",
            )
    elif url[:5].lower() == "data:":
        raise InvalidRequest(
            "A data URL must be data:<image type>;base64,<data>.", f"{at}.image_url.url"
        )
    elif url[:8].lower() != "https://" or len(url) > 2048:
        raise InvalidRequest(
            "An image URL must be an https URL (at most 2048 characters) or a data URL.",
            f"{at}.image_url.url",
        )
    return ImagePart(url, detail)


def _tool_calls(value: Any, where: str) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidRequest("`tool_calls` must be a list.", f"{where}.tool_calls")
    calls = []
    for number, call in enumerate(value):
        at = f"{where}.tool_calls[{number}]"
        if not isinstance(call, dict) or call.get("type", "function") != "function":
            raise InvalidRequest("Each tool call must be a function call.", at)
        function = call.get("function")
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise InvalidRequest("A tool call needs its `id`.", f"{at}.id")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest("A tool call needs `function.name`.", f"{at}.function")
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            raise InvalidRequest(
                "`function.arguments` must be a string (JSON text).", f"{at}.function.arguments"
            )
        calls.append(ToolCall(call["id"], function["name"], arguments or "{}"))
    return tuple(calls)


# -- tools and structured output -----------------------------------------------------------------


def _tools(value: Any) -> tuple[Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_TOOLS:
        raise InvalidRequest(f"`tools` must be a list of at most {MAX_TOOLS} functions.", "tools")
    tools, names = [], set()
    for index, tool in enumerate(value):
        at = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise InvalidRequest("Only tools of type function are supported.", f"{at}.type")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise InvalidRequest("A tool needs its `function`.", f"{at}.function")
        name = function.get("name")
        if not isinstance(name, str) or not FUNCTION_NAME.match(name):
            raise InvalidRequest(
                "A function's `name` is 1 to 64 letters, digits, underscores or dashes.",
                f"{at}.function.name",
            )
        if name in names:
            raise InvalidRequest(f"Two tools are named {name}.", f"{at}.function.name")
        names.add(name)
        description = function.get("description", "")
        if not isinstance(description, str):
            raise InvalidRequest("`description` must be a string.", f"{at}.function.description")
        parameters = function.get("parameters")
        if parameters is not None:
            _schema(parameters, f"{at}.function.parameters")
        strict = function.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise InvalidRequest("`strict` must be true or false.", f"{at}.function.strict")
        tools.append(Tool(name, description, parameters, strict))
    return tuple(tools)


def _tool_choice(value: Any, tools: tuple[Tool, ...]) -> str | NamedTool | None:
    if value is None:
        return None
    if value in ("auto", "none", "required"):
        choice: str | NamedTool = value
    elif (
        isinstance(value, dict)
        and value.get("type") == "function"
        and isinstance(value.get("function"), dict)
        and isinstance(value["function"].get("name"), str)
    ):
        choice = NamedTool(value["function"]["name"])
        if choice.name not in {tool.name for tool in tools}:
            raise InvalidRequest(
                f"`tool_choice` names {choice.name[:64]!r}, which is not among the tools.",
                "tool_choice",
            )
    else:
        raise InvalidRequest(
            '`tool_choice` must be auto, none, required or {"type": "function", '
            '"function": {"name": ...}}.',
            "tool_choice",
        )
    if not tools:
        raise InvalidRequest("`tool_choice` is only allowed when `tools` are given.", "tool_choice")
    return choice


def _response_format(value: Any) -> ResponseFormat | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in ("text", "json_object"):
        return ResponseFormat(kind)
    if kind != "json_schema":
        raise InvalidRequest(
            "`response_format.type` must be text, json_object or json_schema.",
            "response_format.type",
        )
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise InvalidRequest(
            "A json_schema response format needs `json_schema`.", "response_format.json_schema"
        )
    name = spec.get("name")
    if not isinstance(name, str) or not FUNCTION_NAME.match(name):
        raise InvalidRequest(
            "`json_schema.name` is 1 to 64 letters, digits, underscores or dashes.",
            "response_format.json_schema.name",
        )
    schema = spec.get("schema")
    if schema is None:
        raise InvalidRequest(
            "`json_schema.schema` is required.", "response_format.json_schema.schema"
        )
    _schema(schema, "response_format.json_schema.schema")
    description = spec.get("description", "")
    strict = spec.get("strict")
    if not isinstance(description, str):
        raise InvalidRequest(
            "`description` must be a string.", "response_format.json_schema.description"
        )
    if strict is not None and not isinstance(strict, bool):
        raise InvalidRequest(
            "`strict` must be true or false.", "response_format.json_schema.strict"
        )
    return ResponseFormat("json_schema", schema, name, description, strict)


_SCHEMA_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def _schema(schema: Any, param: str) -> None:
    """A JSON schema's outline: an object whose `type`s are JSON types, whose `properties`
    are schemas and whose `required` is a list of names. Deeper meaning is the provider's to
    judge (with its own 400)."""
    if not isinstance(schema, dict):
        raise InvalidRequest("A JSON schema must be an object.", param)
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if kinds is not None and (
        not isinstance(kinds, list) or not all(k in _SCHEMA_TYPES for k in kinds)
    ):
        raise InvalidRequest(
            f"A schema's `type` must be one of {', '.join(sorted(_SCHEMA_TYPES))}.",
            f"{param}.type",
        )
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise InvalidRequest("`properties` must be an object.", f"{param}.properties")
        for name, sub in properties.items():
            if not isinstance(sub, dict | bool):
                raise InvalidRequest(
                    "Each property must be a schema.", f"{param}.properties.{name[:64]}"
                )
    required = schema.get("required")
    if required is not None and (
        not isinstance(required, list) or not all(isinstance(r, str) for r in required)
    ):
        raise InvalidRequest("`required` must be a list of names.", f"{param}.required")


# -- scalar options ------------------------------------------------------------------------------


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRequest(f"`{name}` must be a number from {low:g} to {high:g}.", name)
    return float(value)


def _integer(body: dict, name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
        raise InvalidRequest(f"`{name}` must be an integer.", name)
    return value


def _positive(body: dict, name: str) -> int | None:
    value = _integer(body, name)
    if value is not None and value < 1:
        raise InvalidRequest(f"`{name}` must be a positive integer.", name)
    return value


def _boolean(body: dict, name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"`{name}` must be true or false.", name)
    return value


def _choice(body: dict, name: str, choices: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is not None and value not in choices:
        raise InvalidRequest(f"`{name}` must be one of {', '.join(choices)}.", name)
    return value


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list) and len(stop) <= MAX_STOP and all(isinstance(s, str) for s in stop):
        return tuple(stop)
    raise InvalidRequest(f"`stop` must be a string or a list of up to {MAX_STOP} strings.", "stop")


def _top_logprobs(body: dict) -> int | None:
    value = _integer(body, "top_logprobs")
    if value is not None and not 0 <= value <= 20:
        raise InvalidRequest("`top_logprobs` must be an integer from 0 to 20.", "top_logprobs")
    if value is not None and body.get("logprobs") is not True:
        raise InvalidRequest("`top_logprobs` needs `logprobs: true`.", "top_logprobs")
    return value


def _logit_bias(body: dict) -> dict[str, float] | None:
    value = body.get("logit_bias")
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 1024:
        raise InvalidRequest("`logit_bias` must map token ids to numbers.", "logit_bias")
    for token, bias in value.items():
        if (
            not token.isdigit()
            or isinstance(bias, bool)
            or not isinstance(bias, int | float)
            or not -100 <= bias <= 100
        ):
            raise InvalidRequest(
                "`logit_bias` maps token ids to numbers from -100 to 100.", "logit_bias"
            )
    return value


def _user(body: dict) -> str | None:
    value = body.get("user")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_USER_LENGTH):
        raise InvalidRequest(
            f"`user` must be a string of at most {MAX_USER_LENGTH} characters.", "user"
        )
    return value
