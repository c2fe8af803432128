"""How every fake model behaves beyond plain text (issue 21), whatever wire format its provider
speaks: each fake reads its own request shape into these few facts and writes the decision
back in its own answer shape.

- The last message is a tool result → it answers "Tool said: <result>".
- Tools are offered (and tool_choice is not none) → it calls one: the forced one, else the
  first; every tool, in parallel, when the user's text says "parallel". Its arguments follow
  the tool's schema (`sample`), strings being the user's text.
- A JSON schema is asked for → a JSON object following it; JSON mode → {"answer": ...}.
- Otherwise the OpenAI fake's text answer ("You said: ..."), with " [n image(s)]" when the
  user's message carried images in the provider's own image shape.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Decision:
    kind: str  # "text", "tools" or "json"
    text: str = ""
    calls: list[tuple[str, str, dict]] = field(default_factory=list)  # (id, name, arguments)


def decide(
    *,
    user_text: str,
    tool_result: str | None = None,
    tools: list[tuple[str, Any]] = (),  # type: ignore[assignment]
    forced: str | None = None,
    no_tools: bool = False,
    schema: Any = None,
    json_mode: bool = False,
) -> Decision:
    if tool_result is not None:
        return Decision("text", f"Tool said: {tool_result}")
    if tools and not no_tools:
        chosen = [t for t in tools if t[0] == forced] if forced else tools[:1]
        if "parallel" in user_text and not forced:
            chosen = list(tools)
        return Decision(
            "tools",
            calls=[
                (f"call_{uuid.uuid4().hex[:24]}", name, sample(schema or {}, user_text))
                for name, schema in chosen
            ],
        )
    if schema is not None:
        return Decision("json", json.dumps(sample(schema, user_text)))
    if json_mode:
        return Decision("json", json.dumps({"answer": user_text}))
    return Decision("text")


def sample(schema: Any, text: str, depth: int = 0) -> Any:
    """A value following a JSON schema (Gemini's upper-case types too)."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    kind = str(kind or ("object" if "properties" in schema else "")).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: sample(sub, text, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        return [sample(schema.get("items") or {}, text, depth + 1)]
    return {"string": text, "integer": 42, "number": 4.5, "boolean": True}.get(kind)


def text_of(content: Any) -> str:
    """The text of an OpenAI-shaped content: a string, or text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def with_images(text: str, images: int) -> str:
    return f"{text} [{images} image(s)]" if images else text
