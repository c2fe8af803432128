"""A tool round trip by hand: the calls a model asked for, the results the member typed, and
the turns they become when the conversation is sent again.

The page keeps the conversation's tool rounds in one hidden field (`transcript`, JSON): each
round is what the assistant said, its calls and, once sent, their results. The last round of a
transcript posted with "Send results" has no results yet: they are the `tool_result` fields,
one for each call in order. What comes back from the browser is checked like any input (shape,
sizes), and the provider checks the rest (a result for an unknown call id is a 400 of its own).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from upstream.calls import ChatChunk, Message, ToolCall

MAX_ROUNDS = 8
MAX_CALLS = 16
MAX_TRANSCRIPT_CHARS = 200_000
MAX_RESULT_CHARS = 50_000


class TranscriptError(ValueError):
    """The hidden transcript or the typed results cannot be used: the message says why."""


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: str

    @property
    def pretty_arguments(self) -> str:
        """The arguments as indented JSON; as they came when they are not JSON."""
        try:
            return json.dumps(json.loads(self.arguments), indent=2, ensure_ascii=False)
        except ValueError:
            return self.arguments

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class Round:
    """One assistant turn that called tools, and the results sent back for it."""

    calls: tuple[Call, ...]
    content: str = ""
    results: tuple[str, ...] | None = None

    def messages(self) -> list[Message]:
        calls = tuple(ToolCall(c.id, c.name, c.arguments) for c in self.calls)
        turns = [Message("assistant", self.content, tool_calls=calls)]
        for call, result in zip(self.calls, self.results or (), strict=True):
            turns.append(Message("tool", result, tool_call_id=call.id))
        return turns

    def as_json(self) -> dict:
        data: dict = {"content": self.content, "calls": [c.as_json() for c in self.calls]}
        if self.results is not None:
            data["results"] = list(self.results)
        return data


def transcript_json(rounds: Iterable[Round]) -> str:
    return json.dumps([r.as_json() for r in rounds], separators=(",", ":"))


def _text(value, what: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise TranscriptError(f"The conversation's {what} is not usable text.")
    return value


def parse_transcript(text: str, results: list[str]) -> list[Round]:
    """The rounds of a posted transcript, its last one answered with `results`."""
    if len(text) > MAX_TRANSCRIPT_CHARS:
        raise TranscriptError("The conversation is too long to send again: run a new prompt.")
    try:
        data = json.loads(text or "[]")
    except ValueError:
        data = None
    if not isinstance(data, list) or not data or len(data) > MAX_ROUNDS:
        raise TranscriptError(
            "There are no tool calls to answer (or too many rounds): run the prompt again."
        )
    rounds = []
    for number, item in enumerate(data):
        last = number == len(data) - 1
        if not isinstance(item, dict) or not isinstance(item.get("calls"), list):
            raise TranscriptError("The conversation's tool calls are not usable.")
        calls = item["calls"]
        if not calls or len(calls) > MAX_CALLS:
            raise TranscriptError("The conversation's tool calls are not usable.")
        parsed = tuple(
            Call(
                _text(c.get("id") if isinstance(c, dict) else None, "call id", 200),
                _text(c.get("name"), "function name", 64),
                _text(c.get("arguments"), "call arguments", MAX_RESULT_CHARS),
            )
            for c in calls
        )
        answered = results if last else item.get("results")
        if not isinstance(answered, list) or len(answered) != len(parsed):
            raise TranscriptError("Enter a result for each tool call.")
        answered = [_text(r, "tool result", MAX_RESULT_CHARS) for r in answered]
        if last and any(not r.strip() for r in answered):
            raise TranscriptError("Enter a result for each tool call.")
        content = _text(item.get("content", ""), "assistant text", MAX_RESULT_CHARS)
        rounds.append(Round(parsed, content, tuple(answered)))
    return rounds


@dataclass
class CallCollector:
    """Puts a streamed answer's tool-call pieces back together, call by call (OpenAI's order:
    the first piece of call `index` has its id and name, the next ones argument fragments)."""

    _calls: dict[int, dict] = field(default_factory=dict)

    def add(self, chunk: ChatChunk) -> None:
        for piece in chunk.tool_calls:
            call = self._calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = piece.id or call["id"]
            call["name"] = piece.name or call["name"]
            call["arguments"] += piece.arguments

    @property
    def calls(self) -> tuple[Call, ...]:
        return tuple(
            Call(c["id"], c["name"], c["arguments"] or "{}") for _, c in sorted(self._calls.items())
        )
