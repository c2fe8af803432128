"""What a model call takes and returns, the same for every provider.

Adapters translate these to and from each provider's wire format (`adapters/`); the Python API
and the gateway speak only these. Every result carries the provider's response `headers`, so
load balancing can read rate-limit budgets (`invocation.failover`).

Streams: `ChatStream` is returned once the provider has accepted the request (status 2xx, so
errors before the first token raise from the adapter call and can fail over); iterating yields
`ChatChunk`s; a fault mid-stream raises a ProviderError from the iteration; `close()` stops
reading from the provider (a client that went away). `AsyncChatStream` is the same for an
async transport (`upstream.calling.arun`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class Message:
    role: str  # system, user or assistant
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """A chat completion: the messages in order (system messages may appear first)."""

    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def system(self) -> str:
        """The system prompt for APIs that take it apart from the messages."""
        return "\n\n".join(m.content for m in self.messages if m.role == "system")

    @property
    def turns(self) -> tuple[Message, ...]:
        """The conversation without its system messages."""
        return tuple(m for m in self.messages if m.role != "system")


@dataclass(frozen=True)
class ChatResult:
    content: str
    finish_reason: str | None  # OpenAI's words: stop, length, content_filter, tool_calls
    usage: Usage | None  # None: unknown (the provider's counts could not be read)
    model: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatChunk:
    """A piece of a streamed answer; the last ones may carry only `finish_reason` or `usage`."""

    delta: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


class ChatStream:
    """An accepted streamed chat completion; iterate for chunks, `close()` to stop early."""

    def __init__(
        self,
        chunks: Iterator[ChatChunk],
        *,
        headers: Mapping[str, str] | None = None,
        close: Callable[[], None] | None = None,
        model: str = "",
    ):
        self._chunks = chunks
        self.headers = headers or {}
        self._close = close
        self.model = model
        self.usage: Usage | None = None  # known once the provider reported it

    def __iter__(self) -> Iterator[ChatChunk]:
        try:
            for chunk in self._chunks:
                if chunk.usage is not None:
                    self.usage = chunk.usage
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        if self._close is not None:
            close, self._close = self._close, None
            close()


class AsyncChatStream:
    """`ChatStream` read on an async transport: `async for` the chunks, `aclose()` to stop."""

    def __init__(
        self,
        chunks: AsyncIterator[ChatChunk],
        *,
        headers: Mapping[str, str] | None = None,
        aclose: Callable[[], Awaitable[None]] | None = None,
        model: str = "",
    ):
        self._chunks = chunks
        self.headers = headers or {}
        self._aclose = aclose
        self.model = model
        self.usage: Usage | None = None

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        try:
            async for chunk in self._chunks:
                if chunk.usage is not None:
                    self.usage = chunk.usage
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._aclose is not None:
            aclose, self._aclose = self._aclose, None
            await aclose()


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    usage: Usage | None  # None: unknown
    model: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModerationResult:
    """One result per input, in OpenAI's shape: flagged, categories, category_scores."""

    results: list[dict[str, Any]]
    model: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageResult:
    """Generated images as base64 PNG/JPEG (`b64_json`) or URLs the provider hosts."""

    images: list[dict[str, str]]
    model: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TranscriptionResult:
    text: str
    model: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SpeechResult:
    audio: bytes
    content_type: str  # e.g. audio/mpeg
    model: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
