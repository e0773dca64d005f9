"""The ASGI wrappers a project puts around Django's handler, in this order:

    application = StreamBackpressure(StreamRouter(get_asgi_application()))

StreamRouter (liveevents.router) serves public streams without Django's middleware and response
machinery; StreamBackpressure (liveevents.pacer) lets a stream feel, under daphne, a client that
stopped reading. This module can be imported before Django is set up, as a project's asgi.py
does; StreamRouter itself needs the app registry, so it is loaded on first use, after
get_asgi_application() has set Django up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from liveevents.pacer import (
    PACER_EXTENSION,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    StreamBackpressure,
    TransportPacer,
)

if TYPE_CHECKING:
    from liveevents.router import StreamRouter

__all__ = [
    "PACER_EXTENSION",
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "StreamBackpressure",
    "StreamRouter",
    "TransportPacer",
]


def __getattr__(name: str) -> Any:
    if name == "StreamRouter":
        from liveevents.router import StreamRouter

        return StreamRouter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
