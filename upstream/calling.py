"""Calling providers: an adapter's operations (generators of requests, `adapters/base.py`) run
on a transport (`transports/`).

`get_adapter(provider)` is what callers use: a `ProviderClient` with the adapter's operations
as plain calls on the sync transport (`validate`, `list_models`, `chat`, `chat_stream`,
`embed`, `moderate`, `generate_image`, `transcribe`, `speak`, `speak_stream`, `rerank`),
returning results and raising ProviderErrors.

`run(operation, transport)` drives one operation: it sends each request the adapter yields
and sends the answer back, until the operation returns. A streamed request (`stream=` set) is
opened: an error status goes back whole, an accepted stream as its `StreamHead`; when the
adapter then returns an `OpenedStream`, the driver pumps the body's bytes through the format's
decoder into the adapter's parser, as a `ChatStream`. `arun` is the same on an
`AsyncTransport`, giving an `AsyncChatStream`: the adapters are the same for both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any, TypeVar

from .adapters import DiscoveredModel, Operation, ProviderAdapter, adapter_for
from .calls import (
    AsyncChatStream,
    ChatChunk,
    ChatRequest,
    ChatResult,
    ChatStream,
    EmbeddingResult,
    ImagePart,
    ImageResult,
    ModerationResult,
    RerankResult,
    SpeechResult,
    TranscriptionResult,
)
from .errors import ProviderError, UnsupportedParameter
from .http import Response, StreamHead
from .images import fetch_image
from .schema import ProviderSpec
from .streams import OpenedStream, decoder_for
from .transports import AsyncStreamHandle, AsyncTransport, StreamHandle, Transport
from .transports.sync import SyncTransport

T = TypeVar("T")

#: The transport `get_adapter` uses unless told otherwise.
default_transport: Transport = SyncTransport()


def run(operation: Operation[T], transport: Transport) -> T:
    """Run an adapter operation on a sync transport; its result (an `OpenedStream` becomes
    the `ChatStream` that reads it)."""
    handle: StreamHandle | None = None
    answer: Any = None
    try:
        while True:
            try:
                request = operation.send(answer)
            except StopIteration as finished:
                result = finished.value
                break
            if handle is not None:  # a stream no one will read
                handle.close()
                handle = None
            if request.stream is None:
                answer = transport.send(request)
                continue
            reply = transport.open(request)
            if isinstance(reply, Response):
                answer = reply
            else:
                handle = reply
                answer = StreamHead(reply.status, reply.headers, reply.url)
    except BaseException:
        if handle is not None:  # refused (a web page), or the driver failed: stop it
            handle.close()
        operation.close()
        raise
    if isinstance(result, OpenedStream):
        if handle is None:
            raise RuntimeError("the adapter returned a stream it did not open")
        return ChatStream(  # type: ignore[return-value]
            _chunks(handle, result), headers=result.headers, close=handle.close, model=result.model
        )
    if handle is not None:
        handle.close()
    return result


def _pumped(events, parser, handle) -> Iterator[ChatChunk]:
    """The parser's chunks for `events`, until the handle is closed or the parser is done;
    the one step the sync and the async reader share."""
    for event in events:
        if handle.closed:
            return
        for chunk in parser.feed(event):
            if handle.closed:
                return
            yield chunk
        if parser.done:
            return


def _chunks(handle: StreamHandle, opened: OpenedStream) -> Iterator[ChatChunk]:
    """bytes ─▶ decoder ─▶ events ─▶ parser ─▶ chunks, until the parser's end marker or the
    body's end; nothing more once the handle is closed (not even what was already read)."""
    decoder, parser = decoder_for(opened.format), opened.parser
    for data in handle.chunks():
        yield from _pumped(decoder.feed(data), parser, handle)
        if parser.done:
            handle.finish()
        if parser.done or handle.closed:
            return
    yield from _pumped(decoder.end(), parser, handle)
    if not (parser.done or handle.closed):
        yield from parser.end()


async def arun(operation: Operation[T], transport: AsyncTransport) -> T:
    """`run` on an async transport; an `OpenedStream` becomes an `AsyncChatStream`."""
    handle: AsyncStreamHandle | None = None
    answer: Any = None
    try:
        while True:
            try:
                request = operation.send(answer)
            except StopIteration as finished:
                result = finished.value
                break
            if handle is not None:
                await handle.aclose()
                handle = None
            if request.stream is None:
                answer = await transport.send(request)
                continue
            reply = await transport.open(request)
            if isinstance(reply, Response):
                answer = reply
            else:
                handle = reply
                answer = StreamHead(reply.status, reply.headers, reply.url)
    except BaseException:
        if handle is not None:
            await handle.aclose()
        operation.close()
        raise
    if isinstance(result, OpenedStream):
        if handle is None:
            raise RuntimeError("the adapter returned a stream it did not open")
        return AsyncChatStream(  # type: ignore[return-value]
            _achunks(handle, result),
            headers=result.headers,
            aclose=handle.aclose,
            model=result.model,
        )
    if handle is not None:
        await handle.aclose()
    return result


async def _achunks(handle: AsyncStreamHandle, opened: OpenedStream) -> AsyncIterator[ChatChunk]:
    """`_chunks` on an async handle."""
    decoder, parser = decoder_for(opened.format), opened.parser
    async for data in handle.chunks():
        for chunk in _pumped(decoder.feed(data), parser, handle):
            yield chunk
        if parser.done or handle.closed:
            return
    for chunk in _pumped(decoder.end(), parser, handle):
        yield chunk
    if not (parser.done or handle.closed):
        for chunk in parser.end():
            yield chunk


class ProviderClient:
    """A provider's adapter on a transport: each operation called and answered, with the
    signatures of the adapter's operations."""

    def __init__(self, adapter: ProviderAdapter, transport: Transport | None = None):
        self.adapter = adapter
        self.transport = transport or default_transport

    @property
    def provider(self) -> ProviderSpec:
        return self.adapter.provider

    def validate(
        self, credentials: dict[str, Any], *, model: str | None = None, recheck: bool = False
    ) -> str | None:
        """The cheapest real call that proves the credential works; raises a ProviderError,
        or returns a warning (`ProviderAdapter.validate`)."""
        return run(self.adapter.validate(credentials, model=model, recheck=recheck), self.transport)

    def list_models(self, credentials: dict[str, Any]) -> list[DiscoveredModel]:
        return run(self.adapter.list_models(credentials), self.transport)

    def prepare_chat(
        self,
        request: ChatRequest,
        *,
        features: tuple[str, ...] | None,
        stream: bool = False,
        max_image_bytes: int,
    ) -> ChatRequest:
        """The request as the provider will be sent it, checked first (`check_chat`: a 400
        naming the field for anything it cannot honour) and, for providers that need image
        bytes, with each remote image fetched through the guarded transport (a 400 naming the
        image when it cannot be: a private address, too large, not an image). Run once per
        call, before any credential is tried, so a bad field or image never counts against
        one. `max_image_bytes` caps the images fetched for the request, all together."""
        self.adapter.check_chat(request, features=features, stream=stream)
        if not self.adapter.needs_image_bytes or all(i.is_data for i in request.images):
            return request
        budget = max_image_bytes
        messages = []
        for index, message in enumerate(request.messages):
            if all(part.is_data for part in message.images):
                messages.append(message)
                continue
            parts = []
            for number, part in enumerate(message.parts):
                if isinstance(part, ImagePart) and not part.is_data:
                    param = f"messages[{index}].content[{number}].image_url.url"
                    if budget <= 0:
                        raise UnsupportedParameter(
                            f"The images of the request are larger than "
                            f"{max_image_bytes // 1024} KiB together, at `{param}`.",
                            param=param,
                            code="invalid_image_url",
                        )
                    try:
                        part = run(fetch_image(part, max_bytes=budget), self.transport)
                    except ProviderError as error:
                        raise UnsupportedParameter(
                            f"The image at `{param}` could not be fetched: {error.message}.",
                            param=param,
                            code="invalid_image_url",
                        ) from None
                    budget -= len(part.data) * 3 // 4
                parts.append(part)
            messages.append(replace(message, content=tuple(parts)))
        return replace(request, messages=tuple(messages))

    def chat(self, credentials: dict[str, Any], request: ChatRequest) -> ChatResult:
        return run(self.adapter.chat(credentials, request), self.transport)

    def chat_stream(self, credentials: dict[str, Any], request: ChatRequest) -> ChatStream:
        """Returns once the provider accepted the request (errors before the first token
        raise here); iterating the stream yields the chunks."""
        return run(self.adapter.chat_stream(credentials, request), self.transport)  # type: ignore[return-value]

    def embed(self, credentials: dict[str, Any], model: str, inputs: list[str]) -> EmbeddingResult:
        return run(self.adapter.embed(credentials, model, inputs), self.transport)

    def moderate(
        self, credentials: dict[str, Any], model: str, inputs: list[str]
    ) -> ModerationResult:
        return run(self.adapter.moderate(credentials, model, inputs), self.transport)

    def generate_image(
        self,
        credentials: dict[str, Any],
        model: str,
        prompt: str,
        *,
        n: int = 1,
        size: str = "",
        response_format: str = "",
    ) -> ImageResult:
        return run(
            self.adapter.generate_image(
                credentials, model, prompt, n=n, size=size, response_format=response_format
            ),
            self.transport,
        )

    def transcribe(
        self,
        credentials: dict[str, Any],
        model: str,
        audio: bytes,
        *,
        filename: str = "audio.mp3",
        content_type: str = "audio/mpeg",
        language: str = "",
    ) -> TranscriptionResult:
        return run(
            self.adapter.transcribe(
                credentials,
                model,
                audio,
                filename=filename,
                content_type=content_type,
                language=language,
            ),
            self.transport,
        )

    def speak(
        self,
        credentials: dict[str, Any],
        model: str,
        text: str,
        *,
        voice: str = "",
        audio_format: str = "mp3",
    ) -> SpeechResult:
        return run(
            self.adapter.speak(credentials, model, text, voice=voice, audio_format=audio_format),
            self.transport,
        )

    def speak_stream(
        self,
        credentials: dict[str, Any],
        model: str,
        text: str,
        *,
        voice: str = "",
        audio_format: str = "mp3",
    ) -> ChatStream:
        """Returns once the provider accepted the request; iterating gives `AudioChunk`s as
        the audio arrives, and `headers["content-type"]` is its type."""
        return run(  # type: ignore[return-value]
            self.adapter.speak_stream(
                credentials, model, text, voice=voice, audio_format=audio_format
            ),
            self.transport,
        )

    def rerank(
        self,
        credentials: dict[str, Any],
        model: str,
        query: str,
        documents: list[str],
        *,
        top_n: int | None = None,
    ) -> RerankResult:
        return run(
            self.adapter.rerank(credentials, model, query, documents, top_n=top_n),
            self.transport,
        )

    # -- the adapter's pure helpers, for a caller that sends a request of its own -----------
    def base_url(self, credentials: dict[str, Any]) -> str:
        return self.adapter.base_url(credentials)

    def headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        return self.adapter.headers(credentials)

    def secrets(self, credentials: dict[str, Any]) -> tuple[str, ...]:
        return self.adapter.secrets(credentials)

    def classify(self, response: Response, *, secrets: tuple[str, ...] = ()) -> ProviderError:
        return self.adapter.classify(response, secrets=secrets)


def get_adapter(provider: ProviderSpec, transport: Transport | None = None) -> ProviderClient:
    """The provider's adapter (the catalog entry's `adapter` key), on `transport` (the sync
    one unless given)."""
    return ProviderClient(adapter_for(provider), transport)
