"""A streamed chat as an HTTP response: the gateway's server-sent events and the playground's
use the same body, so a client that goes away stops the provider's stream the same way.
Streamed speech (`audio_stream`) rides the same body."""

from __future__ import annotations

from collections.abc import Generator, Iterator

from django.db import connections
from django.http import StreamingHttpResponse

from .api import StreamedChat, StreamedSpeech


def release_database_connections() -> None:
    """Give back the database connections this request used before its stream starts, as the
    end of the request would (`close_old_connections`): with the pool (config/settings.py) a
    stream lasting a minute must not hold a pooled connection it no longer needs. Inside a
    transaction (the tests' test case) nothing is touched."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


class StreamBody:
    """The streamed body: the events made of a streamed chat. Closing it (the client went away,
    or pressed Stop) closes the provider's stream too, even before the first chunk was sent."""

    def __init__(self, streamed: StreamedChat, events: Generator[bytes, None, None]):
        self._events = events
        self._streamed = streamed
        self._body = self._sent(events)

    def __iter__(self) -> Iterator[bytes]:
        return self._body

    @staticmethod
    def _sent(events: Generator[bytes, None, None]) -> Generator[bytes, None, None]:
        # The server reads the first event once the response has passed every middleware (a
        # session save included): from then on the request needs no database until it ends.
        release_database_connections()
        yield from events

    def close(self) -> None:
        self._body.close()
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


def audio_stream(speech: StreamedSpeech) -> StreamingHttpResponse:
    """Speech as it arrives from the provider, in its content type; closing the body (the
    client went away) closes the provider's stream, as for a chat."""
    response = StreamingHttpResponse(
        StreamBody(speech, speech.audio()), content_type=speech.content_type
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
