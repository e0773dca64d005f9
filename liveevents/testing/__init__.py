"""Helpers for a project's own tests: capture what its code publishes, read its streams over ASGI.

Import them from here:

    from liveevents.testing import capture_events, open_stream

EventStreamParser needs nothing of Django and can be used by any process; capture_events and the
ASGI client use the ORM, so they are loaded when first asked for, once settings are configured.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from liveevents.testing.parser import EventStreamParser, ParsedEvent

if TYPE_CHECKING:
    from liveevents.testing.capture import CapturedEvent, capture_events
    from liveevents.testing.client import StreamResponse, open_stream

__all__ = [
    "CapturedEvent",
    "EventStreamParser",
    "ParsedEvent",
    "StreamResponse",
    "capture_events",
    "open_stream",
]

_MODULES = {
    "CapturedEvent": "capture",
    "capture_events": "capture",
    "StreamResponse": "client",
    "open_stream": "client",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"liveevents.testing.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
