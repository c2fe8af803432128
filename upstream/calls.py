"""What a model call takes and returns, the same for every provider.

Adapters translate these to and from each provider's wire format (`adapters/`); the Python API
and the gateway speak only these. Every result carries the provider's response `headers`, so
load balancing can read rate-limit budgets (`invocation.failover`).

Streams: `ChatStream` is returned once the provider has accepted the request (status 2xx, so
errors before the first token raise from the adapter call and can fail over); iterating yields
`ChatChunk`s; a fault mid-stream raises a ProviderError from the iteration; `close()` stops
reading from the provider (a client that went away). `AsyncChatStream` is the same for an
async transport (`upstream.calling.arun`).

The chat surface is OpenAI's (issue 21): tools, assistant messages carrying tool calls, tool
messages answering them, content parts (text and images), `response_format`, and the other
sampling parameters. Each adapter maps what its provider can honour and refuses the rest
before anything is sent (`ProviderAdapter.check_chat`), so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant", "tool")
# OpenAI's words (the SDK's ReasoningEffort); "none" asks for no reasoning at all.
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


@dataclass(frozen=True)
class Usage:
    """Tokens counted by the provider. `reasoning_tokens` are part of `completion_tokens`
    (thinking is billed as output), as OpenAI counts them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    """An image in a user message: an https URL, or a `data:<type>;base64,<data>` URL."""

    url: str
    detail: str | None = None  # OpenAI's auto, low or high

    @property
    def is_data(self) -> bool:
        return self.url[:5].lower() == "data:"

    @property
    def media_type(self) -> str:
        """A data URL's media type ("image/png"); "" for a remote image."""
        if not self.is_data:
            return ""
        return self.url[5:].split(",", 1)[0].split(";", 1)[0].strip().lower()

    @property
    def data(self) -> str:
        """A data URL's base64 payload; "" for a remote image."""
        return self.url.split(",", 1)[1] if self.is_data and "," in self.url else ""


ContentPart = TextPart | ImagePart


@dataclass(frozen=True)
class ToolCall:
    """A function the model asks to call: `arguments` is the JSON text, as OpenAI sends it."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True)
class Message:
    """One turn. `content` is text, or content parts (text and images) for a user turn. An
    assistant turn may carry `tool_calls`; a `tool` turn answers the call `tool_call_id`."""

    role: str  # system, user, assistant or tool
    content: str | tuple[ContentPart, ...] = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None  # the participant's name (OpenAI's `name`)

    @property
    def text(self) -> str:
        """The text of the turn, its text parts joined."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))

    @property
    def parts(self) -> tuple[ContentPart, ...]:
        """The content as parts (text alone is one part; no text, no part)."""
        if isinstance(self.content, str):
            return (TextPart(self.content),) if self.content else ()
        return self.content

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(part for part in self.parts if isinstance(part, ImagePart))


@dataclass(frozen=True)
class Tool:
    """A function the model may call: `parameters` is its JSON schema."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] | None = None
    strict: bool | None = None


@dataclass(frozen=True)
class NamedTool:
    """`tool_choice` naming the one function the model must call."""

    name: str


@dataclass(frozen=True)
class ResponseFormat:
    """`response_format`: type text, json_object (any JSON object) or json_schema (`schema`,
    enforced when `strict`)."""

    type: str
    schema: Mapping[str, Any] | None = None
    name: str = "response"
    description: str = ""
    strict: bool | None = None


@dataclass(frozen=True)
class ChatRequest:
    """A chat completion: the messages in order (system messages may appear first), and the
    options OpenAI's API takes. `max_tokens` and `max_completion_tokens` stay apart: OpenAI's
    reasoning models take only the second. `extra` holds fields the gateway does not know,
    passed through to OpenAI-family providers (and refused by the others)."""

    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: str | NamedTool | None = None  # auto, none, required, or a named function
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: Mapping[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    user: str | None = None
    max_completion_tokens: int | None = None
    reasoning_effort: str | None = None  # one of REASONING_EFFORTS
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def system(self) -> str:
        """The system prompt for APIs that take it apart from the messages."""
        return "\n\n".join(m.text for m in self.messages if m.role == "system")

    @property
    def turns(self) -> tuple[Message, ...]:
        """The conversation without its system messages."""
        return tuple(m for m in self.messages if m.role != "system")

    @property
    def output_limit(self) -> int | None:
        """The most tokens to generate, whichever field said it."""
        return self.max_completion_tokens or self.max_tokens

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(image for m in self.messages for image in m.images)

    def options(self) -> dict[str, Any]:
        """The options that are set: name → value (what a provider must map or refuse)."""
        defaults = _CHAT_DEFAULTS
        return {
            name: getattr(self, name) for name in defaults if getattr(self, name) != defaults[name]
        }


@dataclass(frozen=True)
class ChatResult:
    content: str
    finish_reason: str | None  # OpenAI's words: stop, length, content_filter, tool_calls
    usage: Usage | None  # None: unknown (the provider's counts could not be read)
    model: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    tool_calls: tuple[ToolCall, ...] = ()
    logprobs: Any = None  # OpenAI's `choices[0].logprobs`, from providers that give them
    # Other fields of OpenAI's `message` an OpenAI-family provider answered (refusal,
    # annotations, audio), passed back as they came.
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a streamed tool call, as OpenAI streams them: the first piece of call
    `index` carries its `id` and `name`, the next ones fragments of its `arguments`."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class ChatChunk:
    """A piece of a streamed answer; the last ones may carry only `finish_reason` or `usage`."""

    delta: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    logprobs: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # other delta fields (refusal)


_CHAT_DEFAULTS = {
    f.name: (f.default_factory() if callable(f.default_factory) else f.default)  # type: ignore[misc]
    for f in ChatRequest.__dataclass_fields__.values()
    if f.name not in ("model", "messages")
}
# What a chat may ask of a provider beyond its messages (`extra`: fields the gateway does not
# know, passed to OpenAI-family providers only): each adapter maps or refuses every one.
CHAT_OPTIONS = frozenset(_CHAT_DEFAULTS) - {"extra"}


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
    """The text, and what the provider told of the audio: its language, its length in seconds
    (`duration`; None when not reported) and timed segments (OpenAI's verbose_json shape)."""

    text: str
    model: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    language: str = ""
    duration: float | None = None
    segments: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage | None = None  # tokens, for models billed by token (gpt-4o-transcribe)


@dataclass(frozen=True)
class RankedDocument:
    index: int  # the document's place in the request
    relevance_score: float


@dataclass(frozen=True)
class RerankResult:
    """Documents by relevance, most relevant first; `search_units` as the provider billed them
    (None when it did not say)."""

    results: list[RankedDocument]
    search_units: int | None = None
    model: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AudioChunk:
    """A piece of a streamed speech answer, as it arrived (`speak_stream`). It rides the same
    `ChatStream` as chat chunks; it never carries usage."""

    data: bytes
    usage: None = None


@dataclass(frozen=True)
class SpeechResult:
    audio: bytes
    content_type: str  # e.g. audio/mpeg
    model: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
