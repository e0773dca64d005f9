"""The ASGI wrappers a project puts around Django's handler, in this order:

    application = StreamBackpressure(StreamRouter(get_asgi_application()))

StreamRouter (liveevents.router) serves public streams without Django's middleware and response
machinery; StreamBackpressure (liveevents.pacer) lets a stream feel, under daphne, a client that
stopped reading. This module can be imported before Django is set up, as a project's asgi.py
does; build StreamRouter after get_asgi_application().
"""

from __future__ import annotations

from collections.abc import Awaitable

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


class StreamRouter:
    """ASGI wrapper: `StreamRouter(get_asgi_application())` serves requests for public streams
    itself (liveevents.router) and passes every other request to `app` unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        # The router uses the ORM, so it is loaded here, once get_asgi_application() has set
        # Django up, and not when a project's asgi.py imports this module before that.
        from liveevents.router import serve_public_streams

        self.app = app
        self._serve = serve_public_streams

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # The router's coroutine itself, not one awaiting it: a frame less held by every stream.
        return self._serve(self.app, scope, receive, send)
