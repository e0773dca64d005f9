"""StreamBackpressure: notice, under daphne, a client that stopped reading.

ASGI gives an application no way to learn that a client stopped reading, and daphne's send()
never waits: whatever a stream writes piles up in Twisted's buffer. This wrapper registers a
streaming producer on daphne's Twisted request, so a stream waits while the socket is full; its
bounded queue then fills, and the hub cuts the client off (it reconnects and replays from the
log). Servers whose send() already waits for the socket (uvicorn) need nothing: the wrapper
passes their requests through untouched.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

# ASGI, as Django's handler types it.
Scope: TypeAlias = dict[str, Any]
Message: TypeAlias = Mapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

PACER_EXTENSION = "liveevents.pacer"


class TransportPacer:
    """A Twisted push producer that turns pause/resume into an asyncio.Event."""

    def __init__(self, request: Any) -> None:
        # daphne's twisted.web.http.Request, duck-typed: daphne is optional and untyped.
        self._request = request
        self.writable = asyncio.Event()
        self.writable.set()
        self._registered = False

    # IPushProducer, called by Twisted on the event loop's thread.
    def pauseProducing(self) -> None:  # noqa: N802
        self.writable.clear()

    def resumeProducing(self) -> None:  # noqa: N802
        self.writable.set()

    def stopProducing(self) -> None:  # noqa: N802
        self.writable.set()  # connection lost: let the stream notice the disconnect

    def start(self) -> None:
        """Begin pacing: called by the stream once its response has started."""
        if not self._registered and getattr(self._request, "producer", True) is None:
            self._request.registerProducer(self, True)
            self._registered = True

    def stop(self) -> None:
        if self._registered:
            self._registered = False
            self.writable.set()
            if getattr(self._request, "channel", None) is not None:
                self._request.unregisterProducer()

    def abort(self) -> None:
        """Drop the connection now, with whatever it still buffers (a client cut off)."""
        channel = getattr(self._request, "channel", None)
        transport = getattr(channel, "transport", None)
        if transport is not None:
            transport.abortConnection()


def pacer_of(scope: Mapping[str, Any]) -> TransportPacer | None:
    """The pacer StreamBackpressure put in the request's scope, if any."""
    pacer = (scope.get("extensions") or {}).get(PACER_EXTENSION)
    return pacer if isinstance(pacer, TransportPacer) else None


def _twisted_request(send: Send) -> Any:
    # daphne passes send as functools.partial(server.handle_reply, protocol), where protocol is
    # its twisted.web.http.Request. Anything else (uvicorn, tests) gets no pacer.
    if not isinstance(send, functools.partial) or not send.args:
        return None
    request = send.args[0]
    if not callable(getattr(request, "registerProducer", None)) or not hasattr(request, "channel"):
        return None
    return request


class StreamBackpressure:
    """ASGI wrapper: `application = StreamBackpressure(get_asgi_application())`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = _twisted_request(send) if scope.get("type") == "http" else None
        if request is None:
            await self.app(scope, receive, send)
            return
        pacer = TransportPacer(request)
        extensions = {**(scope.get("extensions") or {}), PACER_EXTENSION: pacer}
        try:
            await self.app({**scope, "extensions": extensions}, receive, send)
        finally:
            pacer.stop()
