"""Event streams read as a browser reads them: liveevents' WHATWG parser behind an HTTP response.

EventStreamResponse is what every raw-socket client here reads with (the load generator, the
benchmarks' and the tests' SSE clients): the parser is liveevents.testing.parser's, the HTTP
framing raw_http's.
"""

from __future__ import annotations

from benchmarks.support.raw_http import ResponseReader
from liveevents.testing.parser import EventStreamParser, ParsedEvent

__all__ = ["EventStreamParser", "EventStreamResponse", "ParsedEvent", "event_id_number"]


class EventStreamResponse(ResponseReader):
    """An HTTP/1.1 text/event-stream response: feed() returns the events dispatched by those bytes.
    The parser forgets them once returned (a client keeps what it needs); `parser` keeps the last
    event id, the retry value and the comments."""

    def __init__(self) -> None:
        super().__init__()
        self.parser = EventStreamParser()

    def feed_events(self, data: bytes) -> list[ParsedEvent]:
        body = self.feed(data)
        if not body:
            return []
        events = self.parser.feed(body)
        self.parser.events.clear()
        return events


def event_id_number(event: ParsedEvent) -> int | None:
    """The event's id as an integer (liveevents' ids are), or None."""
    value = event.last_event_id
    return int(value) if value.isascii() and value.isdigit() else None
