"""Streamed answers without I/O: an incremental decoder per stream format, and what an adapter
hands back for a streamed chat (`OpenedStream`: a chunk parser and the format).

A driver reads the bytes (from any transport, sync or async) and pumps them through

    bytes ─▶ decoder.feed() ─▶ events ─▶ parser.feed() ─▶ ChatChunk

then `decoder.end()` and `parser.end()` when the body is over. Decoders cut on byte
boundaries and decode each whole line, so a character split across two reads arrives whole.

- `SSEDecoder`: server-sent events, `(event, data)`: comments skipped, multi-line data joined
  with "\\n", CRLF or LF line ends, a last event without its blank line given at `end()`.
- `NDJSONDecoder`: one JSON text a line (Ollama), as the line's text; blank lines skipped. The
  parser reads the JSON, so an unreadable line fails only once the lines before it are out.
- `BytesDecoder`: the bytes as they come (audio).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from .calls import AudioChunk, ChatChunk


class ServerSentEvent(NamedTuple):
    event: str  # "message" when the event names none
    data: str


class LineDecoder:
    """Bytes to lines: cut at "\\n", a trailing "\\r" dropped, each line decoded as UTF-8 (an
    invalid sequence becomes U+FFFD). The last line needs no line end: `end()` gives it."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[str]:
        if not data:
            return []
        *complete, self._buffer = (self._buffer + data).split(b"\n")
        return [_line(line) for line in complete]

    def end(self) -> list[str]:
        rest, self._buffer = self._buffer, b""
        return [_line(rest)] if rest else []


def _line(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", errors="replace")


class SSEDecoder:
    """Server-sent events (the `text/event-stream` format): an event is its `event:` name
    ("message" when none) and its `data:` lines joined; a blank line ends it. Comments (":")
    and other fields (id, retry) are skipped, and so is an event without data."""

    def __init__(self) -> None:
        self._lines = LineDecoder()
        self._event = ""
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        return self._events(self._lines.feed(data))

    def end(self) -> list[ServerSentEvent]:
        events = self._events(self._lines.end())
        if self._data:
            events.append(ServerSentEvent(self._event or "message", "\n".join(self._data)))
        self._event, self._data = "", []
        return events

    def _events(self, lines: list[str]) -> list[ServerSentEvent]:
        events = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(ServerSentEvent(self._event or "message", "\n".join(self._data)))
                self._event, self._data = "", []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                self._event = value
            elif name == "data":
                self._data.append(value)
        return events


class NDJSONDecoder:
    """Newline-delimited JSON: each non-blank line, as text, for the parser to read."""

    def __init__(self) -> None:
        self._lines = LineDecoder()

    def feed(self, data: bytes) -> list[str]:
        return [line for line in self._lines.feed(data) if line.strip()]

    def end(self) -> list[str]:
        return [line for line in self._lines.end() if line.strip()]


class BytesDecoder:
    """Raw bytes, passed through as they arrive (an audio stream)."""

    def feed(self, data: bytes) -> list[bytes]:
        return [data] if data else []

    def end(self) -> list[bytes]:
        return []


class Decoder(Protocol):
    def feed(self, data: bytes) -> list[Any]: ...

    def end(self) -> list[Any]: ...


DECODERS: dict[str, type[Decoder]] = {
    "sse": SSEDecoder,
    "ndjson": NDJSONDecoder,
    "bytes": BytesDecoder,
}


def decoder_for(stream_format: str) -> Decoder:
    return DECODERS[stream_format]()


class ChunkParser:
    """A provider's stream events to chat chunks, one event at a time (pure).

    `feed(event)` returns the chunks the event makes (often none), or raises the provider's
    mid-stream error. `done` turns true at the provider's own end marker (OpenAI's [DONE],
    Anthropic's message_stop...): the driver then stops reading. `end()` is called when the
    body ended before that: it returns the last chunks, or raises when the answer was cut off.
    """

    done: bool = False

    def feed(self, event: Any) -> list[ChatChunk]:
        raise NotImplementedError

    def end(self) -> list[ChatChunk]:
        return []


@dataclass(frozen=True)
class OpenedStream:
    """What an adapter's `chat_stream` returns once the provider accepted the stream: how its
    body is framed (`format`), the parser for its events, the answer's headers and the model."""

    format: str
    parser: ChunkParser
    headers: Mapping[str, str]
    model: str = ""


class AudioParser(ChunkParser):
    """A speech answer's bytes, passed on as they arrive (the `bytes` format): audio has no
    end marker, the body's end is the end."""

    def feed(self, event: Any) -> list[AudioChunk]:  # type: ignore[override]
        return [AudioChunk(event)] if event else []
