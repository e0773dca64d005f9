"""ASGI wrappers for the stream endpoint: StreamRouter (serve public streams without Django's
request/response machinery) and StreamBackpressure (notice, under daphne, a client that stopped
reading). flightboard's asgi.py shows the order:

    application = StreamBackpressure(StreamRouter(get_asgi_application()))

StreamRouter: a stream request is long-lived, and Django's handler costs it tens of kilobytes for
its lifetime and a dozen thread hops (sync middleware, request signals) to open. Requests that need
nothing from the middleware, a GET for a stream declared PUBLIC, asking for text/event-stream, with
no Origin header (CORS is django-cors-headers' decision), are served here by the same checks and the
same generator as the view; everything else, other streams included, goes to Django unchanged.

StreamBackpressure:
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
import io
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from django.conf import LazySettings
    from django.http.response import HttpResponseBase

    from liveevents.hub import StreamHub

# ASGI 3, as Django's handler types it: a scope dict, messages as mappings.
Scope: TypeAlias = dict[str, Any]
Message: TypeAlias = Mapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

PACER_EXTENSION = "liveevents.pacer"

logger = logging.getLogger(__name__)


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


class StreamRouter:
    """ASGI wrapper: `StreamRouter(get_asgi_application())` serves public streams directly and
    passes every other request to the wrapped application. Build it after Django is set up."""

    def __init__(self, app: ASGIApp) -> None:
        from django.conf import settings
        from django.core.handlers.asgi import ASGIRequest
        from django.urls import resolve

        from liveevents import views
        from liveevents.streams import PUBLIC, get_stream

        self.app = app
        self._request_class = ASGIRequest
        self._resolve = resolve
        self._settings = settings
        self._views = views
        self._public = PUBLIC
        self._get_stream = get_stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http" and scope.get("method") == "GET" and _wants_stream(scope):
            opened = await self._open(scope, send)
            if opened is not None:
                if opened:
                    await self._stream(*opened, receive, send)
                return
        await self.app(scope, receive, send)

    async def _open(self, scope: Scope, send: Send) -> _OpenedStream | tuple[()] | None:
        """None: not a public stream (Django serves it). Else the stream's checks have run: an empty
        tuple when they answered (400, 406, 204, 503), else what _stream needs. The request
        object is built for the checks only and not kept for the stream's lifetime."""
        try:
            request = self._request_class(scope, io.BytesIO())
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it
            request.GET  # noqa: B018 (parsed now: a malformed query string is Django's to answer)
            if self._settings.SECURE_SSL_REDIRECT and not request.is_secure():
                return None  # SecurityMiddleware redirects it
            match = self._resolve(request.path_info)
        except Exception:  # noqa: BLE001 (a bad host, path or query string: Django answers with 400 or 404)
            return None
        stream = match.kwargs.get("stream")
        if match.func is not self._views.stream_view or not isinstance(stream, str):
            return None
        spec = self._get_stream(stream)
        if spec is None or spec.readers is not self._public:
            return None
        answer = await self._views.check_stream_request(request, stream)
        if not isinstance(answer, tuple):
            answer.headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(
                {"type": "http.response.start", "status": answer.status_code, "headers": _headers(answer)}
            )
            await send({"type": "http.response.body", "body": answer.content})
            return ()
        hub, last_id = answer
        headers = STREAM_HEADERS
        if self._settings.SECURE_HSTS_SECONDS and request.is_secure():
            headers = [*headers, (b"strict-transport-security", _hsts(self._settings))]
        return stream, hub, last_id, headers, (scope.get("extensions") or {}).get(PACER_EXTENSION)

    async def _stream(
        self,
        stream: str,
        hub: StreamHub,
        last_id: int | None,
        headers: list[tuple[bytes, bytes]],
        pacer: TransportPacer | None,
        receive: Receive,
        send: Send,
    ) -> None:
        views = self._views
        body = views.stream_events(hub, stream, last_id, pacer)
        streaming = asyncio.current_task()
        assert streaming is not None  # the server runs each request in a task
        gone = False

        async def watch_for_disconnect() -> None:
            nonlocal gone
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass
            except asyncio.CancelledError:
                raise  # the stream ended first
            except Exception:  # noqa: BLE001 (a server that cannot say: treat it as gone)
                logger.debug("Stream %r: receive() failed; ending the stream.", stream, exc_info=True)
            gone = True
            streaming.cancel()

        watcher = asyncio.ensure_future(watch_for_disconnect())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except asyncio.CancelledError:
            if not gone:
                raise  # the server is cancelling us
            streaming.uncancel()
        except OSError as error:  # the client went away mid-write (servers differ in how they say it)
            logger.debug("Stream %r: client gone (%s).", stream, error)
        finally:
            watcher.cancel()
            await body.aclose()


# What StreamRouter._open hands to _stream: the stream, its hub, the client's last id, the
# response headers and the pacer (with StreamBackpressure under daphne).
_OpenedStream: TypeAlias = tuple[
    str, "StreamHub", int | None, list[tuple[bytes, bytes]], TransportPacer | None
]

STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
]


def _wants_stream(scope: Scope) -> bool:
    accepts = False
    for name, value in scope.get("headers") or ():
        if name == b"origin":
            return False  # cross-origin: django-cors-headers decides
        if name == b"accept" and b"text/event-stream" in value:
            accepts = True
    return accepts


def _hsts(settings: LazySettings) -> bytes:
    # As SecurityMiddleware writes it.
    value = f"max-age={settings.SECURE_HSTS_SECONDS}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return value.encode("latin-1")


def _headers(response: HttpResponseBase) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
