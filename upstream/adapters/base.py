"""What every adapter offers, and the HTTP error classification most providers share.

Adapters do no I/O (docs/architecture.md, "Adapters and transports"). Every operation is a
generator that yields the `Request`s it needs and is sent each answer back:

    response = yield Request("GET", url, headers=...)

and returns its result. A driver (`upstream/calling.py`) runs it against a transport. For a
streamed request (`Request(stream="sse")`) the answer sent back is the whole `Response` when
the provider refused (an error status, classified here), else a `StreamHead` (status and
headers); `chat_stream` then returns an `OpenedStream`, a pure parser of the stream's events.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from ..calls import (
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    ImagePart,
    ImageResult,
    ModerationResult,
    NamedTool,
    RerankResult,
    SpeechResult,
    TranscriptionResult,
    Usage,
)
from ..errors import (
    AuthenticationFailed,
    BadRequest,
    ModelNotAvailable,
    NotSupported,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    UnsupportedParameter,
    UpstreamError,
    scrub,
)
from ..http import Request, Response, StreamHead
from ..schema import ProviderSpec
from ..streams import OpenedStream

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: An adapter operation: yields requests, is sent their answers, returns its result.
Operation = Generator[Request, Response | StreamHead, T]

MAX_RETRY_AFTER = 3600.0
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class DiscoveredModel:
    """A model the provider says a credential can reach (from `list_models`)."""

    name: str
    type: str = "llm"
    label: str = ""
    # What the provider says the model can do, in the catalog's words (MODEL_FEATURES); None
    # when its list does not say (most do not).
    features: tuple[str, ...] | None = None


def refused(error: ProviderError) -> Operation[NoReturn]:
    """An operation that fails before it sends anything (still a generator, like all)."""
    raise error
    yield  # pragma: no cover - makes this function a generator


class ProviderAdapter:
    """Base class: subclasses set how to validate and list models for one API family.

    `credentials` is the credential's values (secret and plain) with the schema's defaults
    applied. `model` is the custom model's name when the credential belongs to one. Every
    public operation is a generator (`Operation`, above).

    What a chat maps is declared here, so `check_chat` refuses the rest before anything is
    sent (issue 21: never drop a field silently): `chat_options` (the `ChatRequest` fields the
    adapter sends; `extra` for fields the gateway does not know), `tool_choices`,
    `response_format_features` (the catalog feature each `response_format` type needs), and
    `needs_image_bytes` (remote images are fetched and sent as data).
    """

    #: Path endings users often paste after the base URL although the adapter adds them itself
    #: ("https://api.anthropic.com/v1"); `base_url()` cuts the first one that matches.
    base_url_suffixes: tuple[str, ...] = ()

    chat_options: frozenset[str] = frozenset({"temperature", "top_p", "max_tokens", "stop"})
    #: Why an option this adapter does not map is refused (default: the API has no such field).
    refusal_reasons: dict[str, str] = {}
    tool_choices: tuple[str, ...] = ("auto", "none", "required", "function")
    response_format_features: dict[str, str] = {
        "json_object": "json-mode",
        "json_schema": "structured-output",
    }
    needs_image_bytes = False
    message_names = False  # whether `messages[].name` reaches the model
    tool_arguments_as_objects = True  # whether tool-call arguments must be JSON objects

    def __init__(self, provider: ProviderSpec):
        self.provider = provider

    # -- what each adapter implements ---------------------------------------------------------
    def validate(
        self, credentials: dict[str, Any], *, model: str | None = None, recheck: bool = False
    ) -> Operation[str | None]:
        """The cheapest real call that proves the credential works (and, with `model`, that it
        reaches that model); raises a ProviderError, or returns a warning worth showing (None:
        nothing to say). `recheck` is True for a stored credential checked again ("Check now",
        scheduled re-validation): a check added after it was saved warns rather than refuses,
        so it cannot turn a credential failing that worked until now."""
        raise NotImplementedError

    def list_models(self, credentials: dict[str, Any]) -> Operation[list[DiscoveredModel]]:
        """The models the credential can reach; raises a ProviderError."""
        raise NotImplementedError

    # -- model calls (each adapter overrides what its provider offers) ---------------------
    def chat(self, credentials: dict[str, Any], request: ChatRequest) -> Operation[ChatResult]:
        return (yield from refused(self.unsupported("chat")))

    def chat_stream(
        self, credentials: dict[str, Any], request: ChatRequest
    ) -> Operation[OpenedStream]:
        """Returns once the provider accepted the request (errors before the first token
        raise here), with the parser of the stream's events."""
        return (yield from refused(self.unsupported("streamed chat")))

    def embed(
        self, credentials: dict[str, Any], model: str, inputs: list[str]
    ) -> Operation[EmbeddingResult]:
        return (yield from refused(self.unsupported("embeddings")))

    def moderate(
        self, credentials: dict[str, Any], model: str, inputs: list[str]
    ) -> Operation[ModerationResult]:
        return (yield from refused(self.unsupported("moderation")))

    def generate_image(
        self,
        credentials: dict[str, Any],
        model: str,
        prompt: str,
        *,
        n: int = 1,
        size: str = "",
        response_format: str = "",
    ) -> Operation[ImageResult]:
        """`response_format` ("url" or "b64_json") is a wish: a provider that has one form
        answers in it, and the caller converts."""
        return (yield from refused(self.unsupported("image generation")))

    def transcribe(
        self,
        credentials: dict[str, Any],
        model: str,
        audio: bytes,
        *,
        filename: str = "audio.mp3",
        content_type: str = "audio/mpeg",
        language: str = "",
    ) -> Operation[TranscriptionResult]:
        return (yield from refused(self.unsupported("speech to text")))

    def speak(
        self,
        credentials: dict[str, Any],
        model: str,
        text: str,
        *,
        voice: str = "",
        audio_format: str = "mp3",
    ) -> Operation[SpeechResult]:
        return (yield from refused(self.unsupported("text to speech")))

    def speak_stream(
        self,
        credentials: dict[str, Any],
        model: str,
        text: str,
        *,
        voice: str = "",
        audio_format: str = "mp3",
    ) -> Operation[OpenedStream]:
        """`speak`, the audio read as it arrives: an `OpenedStream` of format "bytes" whose
        parser gives `AudioChunk`s; its headers carry the audio's content type."""
        return (yield from refused(self.unsupported("text to speech")))

    def rerank(
        self,
        credentials: dict[str, Any],
        model: str,
        query: str,
        documents: list[str],
        *,
        top_n: int | None = None,
    ) -> Operation[RerankResult]:
        return (yield from refused(self.unsupported("rerank")))

    # -- what a chat may ask for (pure; run before any request) --------------------------------
    def check_chat(
        self, request: ChatRequest, *, features: tuple[str, ...] | None, stream: bool = False
    ) -> None:
        """Raise UnsupportedParameter, naming the field, for anything in `request` this
        provider cannot honour or the model lacks. `features` are the model's (the catalog's,
        or a custom model's); None when unknown, and then only the provider is checked."""
        who = f"{self.provider.key}/{request.model}"

        def refuse(param: str, why: str) -> NoReturn:
            raise UnsupportedParameter(
                f"`{param}` is not supported by {who}: {why}.", param=param, reason=why
            )

        for name, value in request.options().items():
            if name == "extra":
                if "extra" not in self.chat_options:
                    refuse(
                        next(iter(value)),
                        f"the gateway does not map this field onto {self.provider.label}'s API "
                        "(unknown fields pass through to OpenAI-family providers only)",
                    )
            elif name not in self.chat_options:
                refuse(
                    name,
                    self.refusal_reasons.get(
                        name, f"{self.provider.label}'s API has no equivalent"
                    ),
                )
        choice = request.tool_choice
        kind = "function" if isinstance(choice, NamedTool) else choice
        if kind is not None and kind not in self.tool_choices:
            refuse(
                "tool_choice",
                f"{self.provider.label} takes only {', '.join(self.tool_choices)}",
            )
        names = {call.id: call.name for m in request.messages for call in m.tool_calls}
        for index, message in enumerate(request.messages):
            if message.name and not self.message_names:
                refuse(
                    f"messages[{index}].name",
                    f"{self.provider.label} has no participant names",
                )
            if self.tool_arguments_as_objects:
                for number, call in enumerate(message.tool_calls):
                    if not isinstance(_json_object(call.arguments), dict):
                        raise UnsupportedParameter(
                            f"`messages[{index}].tool_calls[{number}].function.arguments` "
                            f"must be a JSON object for {who}.",
                            param=f"messages[{index}].tool_calls[{number}].function.arguments",
                            code="invalid_value",
                        )
            if message.role == "tool" and message.tool_call_id not in names:
                raise UnsupportedParameter(
                    f"`messages[{index}].tool_call_id` answers no tool call of an earlier "
                    "assistant message.",
                    param=f"messages[{index}].tool_call_id",
                    code="invalid_value",
                )
        self.check_chat_values(request, refuse)
        if features is not None:
            for feature, param in self.features_needed(request, stream=stream):
                if feature not in features:
                    refuse(param, f"the model has no {feature} feature")

    def check_chat_values(self, request: ChatRequest, refuse: Callable[[str, str], NoReturn]):
        """A provider's own limits on the values of options it maps (a hook)."""

    def features_needed(self, request: ChatRequest, *, stream: bool) -> list[tuple[str, str]]:
        """(catalog feature, the field that needs it) for each feature the request uses."""
        needed = []
        if stream:
            needed.append(("streaming", "stream"))
        if request.tools or request.tool_choice is not None:
            needed.append(("tool-call", "tools" if request.tools else "tool_choice"))
        else:
            for index, message in enumerate(request.messages):
                if message.tool_calls or message.role == "tool":
                    field = "tool_calls" if message.tool_calls else "tool_call_id"
                    needed.append(("tool-call", f"messages[{index}].{field}"))
                    break
        for index, message in enumerate(request.messages):
            images = [n for n, part in enumerate(message.parts) if isinstance(part, ImagePart)]
            if images:
                needed.append(("vision", f"messages[{index}].content[{images[0]}]"))
                break
        if request.response_format is not None:
            feature = self.response_format_features.get(request.response_format.type)
            if feature:
                needed.append((feature, "response_format"))
        if request.reasoning_effort not in (None, "none"):
            needed.append(("reasoning", "reasoning_effort"))
        return needed

    def model_key(self, name: str) -> str:
        """What makes two spellings of a model name one model (Ollama: "x" is "x:latest")."""
        return name

    def unsupported(self, what: str) -> NotSupported:
        return NotSupported(f"{self.provider.label} does not offer {what} here")

    # -- helpers (sub-generators: `yield from` them) ------------------------------------------
    def post(
        self,
        url: str,
        credentials: dict[str, Any],
        body: Any,
        *,
        headers: dict[str, str] | None = None,
        **kwargs,
    ) -> Operation[tuple[Any, Any]]:
        """POST JSON and return (JSON body, response headers), raising the classified error.
        `kwargs` are the other `Request` fields (params, data, files, timeout)."""
        response = yield Request(
            "POST", url, headers=headers or self.headers(credentials), json=body, **kwargs
        )
        if response.status >= 400:
            raise self.classify(response, secrets=self.secrets(credentials))
        return response.json(), response.headers

    def open_stream(
        self,
        url: str,
        credentials: dict[str, Any],
        body: Any,
        *,
        stream: str = "sse",
        headers: dict[str, str] | None = None,
        **kwargs,
    ) -> Operation[StreamHead]:
        """POST a streamed request; an error status raises the classified error at once, and
        so does a web page answering 200 (a captive portal, a proxy's login), before any chunk,
        so the call can still fail over (the driver then closes the stream)."""
        answer = yield Request(
            "POST",
            url,
            headers=headers or self.headers(credentials),
            json=body,
            stream=stream,
            **kwargs,
        )
        if isinstance(answer, Response):
            raise self.classify(answer, secrets=self.secrets(credentials))
        if answer.content_type == "text/html":
            raise UpstreamError("unexpected answer (a web page, not a stream)")
        return answer

    def paged_models(
        self,
        url: str,
        credentials: dict[str, Any],
        *,
        params: dict[str, Any],
        items: str,
        parse: Callable[[Any], DiscoveredModel | None],
        next_params: Callable[[dict, dict], dict | None],
        max_pages: int = 20,
    ) -> Operation[list[DiscoveredModel]]:
        """Follow a paged model list. `next_params(body, params)` gives the next page's
        parameters, or None on the last page; a repeated cursor also ends the walk."""
        models: list[DiscoveredModel] = []
        seen: set[str] = set()
        for _ in range(max_pages):
            body = yield from self.get(url, credentials, params=params)
            if not isinstance(body, dict):
                raise UpstreamError("unexpected answer (no model list)")
            for item in body.get(items) or []:
                model = parse(item)
                if model is not None and model.name not in seen:
                    seen.add(model.name)
                    models.append(model)
            following = next_params(body, params)
            if following is None or following == params:
                break
            params = following
        return models

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return {"Accept": "application/json"}

    def base_url(self, credentials: dict[str, Any]) -> str:
        url = credentials.get("base_url")
        if not url:
            field = self.provider.credential_schema.get("base_url")
            url = field.default if field else None
        if not url:
            raise BadRequest("the base URL is missing")
        url = str(url).strip().rstrip("/")
        for suffix in self.base_url_suffixes:
            if url.lower().endswith(suffix):
                url = url[: -len(suffix)].rstrip("/")
                break
        return url

    def get(
        self, url: str, credentials: dict[str, Any], *, params: dict[str, Any] | None = None
    ) -> Operation[Any]:
        """GET with the credential's headers and return the JSON, raising the classified
        error on failure."""
        return (
            yield from self.call(
                Request("GET", url, headers=self.headers(credentials), params=params), credentials
            )
        )

    def call(self, request: Request, credentials: dict[str, Any]) -> Operation[Any]:
        """Send a request and return its JSON, raising the classified error on failure."""
        response = yield request
        if response.status >= 400:
            raise self.classify(response, secrets=self.secrets(credentials))
        return response.json()

    def secrets(self, credentials: dict[str, Any]) -> tuple[str, ...]:
        return tuple(
            str(credentials[v])
            for v in self.provider.credential_schema.secret_variables
            if credentials.get(v)
        )

    def error_text(self, response: Response) -> str:
        """The provider's own error message, when its body carries one."""
        try:
            body = response.json()
        except ProviderError:
            return plain_text(response.text)
        if isinstance(body, dict):
            error = body.get("error", body)
            if isinstance(error, dict):
                return str(error.get("message") or error.get("type") or "")
            if isinstance(error, str):
                return error
            return str(body.get("message") or body.get("detail") or "")
        return ""

    def error_kind(self, response: Response) -> str:
        """The provider's machine word for the error (OpenAI's `code`/`type`), if any."""
        try:
            body = response.json()
        except ProviderError:
            return ""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return str(error.get("code") or error.get("type") or error.get("status") or "")
        return ""

    def classify(self, response: Response, *, secrets: tuple[str, ...] = ()) -> ProviderError:
        status = response.status
        detail = scrub(self.error_text(response), secrets=secrets)
        kind = self.error_kind(response).lower()
        if "insufficient_quota" in kind or ("quota" in kind and status in (402, 403, 429)):
            return QuotaExhausted(detail)
        if status in (401, 403):
            return AuthenticationFailed(detail or f"HTTP {status}")
        if status == 402:
            return QuotaExhausted(detail or "payment required")
        if status == 429:
            return RateLimited(detail, retry_after=retry_after(response))
        if status == 404:
            return ModelNotAvailable(detail or "not found")
        if status in (400, 409, 413, 415, 422):
            return BadRequest(detail or f"HTTP {status}")
        return UpstreamError(f"HTTP {status}" + (f": {detail}" if detail else ""))


def _json_object(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except (ValueError, RecursionError):
        return None


def tool_arguments(text: str) -> dict[str, Any]:
    """A tool call's JSON arguments as an object (`check_chat` made sure they are one)."""
    value = _json_object(text)
    return value if isinstance(value, dict) else {}


def retry_after(response: Response) -> float | None:
    """Seconds from `Retry-After` (seconds or HTTP date) or `retry-after-ms`, capped."""
    headers = response.headers
    if headers.get("retry-after-ms"):
        try:
            seconds = _bounded(float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            seconds = None
        if seconds is not None:
            return seconds
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _bounded(float(value))
    except ValueError:
        from datetime import UTC
        from email.utils import parsedate_to_datetime

        from django.utils import timezone

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" dates parse naive; HTTP dates are UTC
            when = when.replace(tzinfo=UTC)
        return _bounded((when - timezone.now()).total_seconds())


def _bounded(seconds: float) -> float | None:
    """A retry delay clamped to [0, MAX_RETRY_AFTER]; NaN (float("nan") parses) is no delay."""
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


# The most tokens one call can report: what a usage record's columns hold. More is no count.
MAX_REPORTED_TOKENS = 2**31 - 1
_usage_warned: set[str] = set()
_usage_warned_lock = threading.Lock()


def reported_usage(provider: str, prompt: Any, *completion: Any) -> Usage | None:
    """The usage a provider reported: its prompt count and the sum of its completion counts
    (a missing count is 0). None, unknown, when a count is there but is not a whole number of
    tokens ("x", -1, 1.5, 1e300): the answer stands, only its usage is unknown (quotas then
    keep what they reserved), and the log says so once per provider and process."""
    counts = []
    for value in (prompt, *completion):
        if value is None:
            counts.append(0)
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= MAX_REPORTED_TOKENS
            or value != int(value)
        ):
            return unreadable_usage(provider)
        else:
            counts.append(int(value))
    return Usage(counts[0], sum(counts[1:]))


def with_reasoning(usage: Usage | None, reasoning: Any, *, provider: str) -> Usage | None:
    """`usage` with the reasoning tokens the provider counted among the completion tokens;
    an unreadable count is left out (the usage itself stands)."""
    if usage is None or reasoning is None:
        return usage
    counted = reported_usage(provider, 0, reasoning)
    if counted is None or counted.completion_tokens > usage.completion_tokens:
        return usage
    return Usage(usage.prompt_tokens, usage.completion_tokens, counted.completion_tokens)


def unreadable_usage(provider: str) -> None:
    """Usage the provider sent but that cannot be read (a count or a whole block): unknown."""
    with _usage_warned_lock:
        first = provider not in _usage_warned
        _usage_warned.add(provider)
    if first:
        logger.warning(
            "%s: an answer's usage has unreadable token counts; its usage is counted as "
            "unknown (said once per process)",
            provider,
        )
    return None


def plain_text(text: str, *, limit: int = 200) -> str:
    """A non-JSON error body as words: an HTML page (a proxy's 502, a login portal) becomes
    its <title>, or its text without tags, so markup never reaches a message."""
    text = str(text or "")
    if "<" in text and ">" in text:
        title = _TITLE.search(text)
        text = title.group(1) if title else _TAG.sub(" ", text)
        text = html.unescape(text)
    return " ".join(text.split())[:limit]
