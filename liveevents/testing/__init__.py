"""Helpers for a project's own tests: capture what its code publishes, read its streams over ASGI.

Import them from here:

    from liveevents.testing import capture_events, open_stream
"""

from __future__ import annotations

from liveevents.testing.capture import CapturedEvent, capture_events
from liveevents.testing.client import StreamResponse, open_stream
from liveevents.testing.parser import EventStreamParser, ParsedEvent

__all__ = [
    "CapturedEvent",
    "EventStreamParser",
    "ParsedEvent",
    "StreamResponse",
    "capture_events",
    "open_stream",
]
