"""A streamed chat as an HTTP response: the gateway's server-sent events and the playground's
use the same body, so a client that goes away stops the provider's stream the same way."""

from __future__ import annotations

from collections.abc import Generator, Iterator

from django.http import StreamingHttpResponse

from .api import StreamedChat


class StreamBody:
    """The streamed body: the events made of a streamed chat. Closing it (the client went away,
    or pressed Stop) closes the provider's stream too, even before the first chunk was sent."""

    def __init__(self, streamed: StreamedChat, events: Generator[bytes, None, None]):
        self._events = events
        self._streamed = streamed

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        self._events.close()
        self._streamed.close()


def event_stream(
    streamed: StreamedChat, events: Generator[bytes, None, None]
) -> StreamingHttpResponse:
    """The response that sends `events` (server-sent events) as they come, unbuffered."""
    response = StreamingHttpResponse(StreamBody(streamed, events), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
