"""Public streams straight from ASGI, without Django's request/response machinery: what
liveevents.asgi.StreamRouter runs.

A stream request is long-lived, and Django's handler costs it tens of kilobytes for its lifetime
and a dozen thread hops (sync middleware, request signals) to open. Requests that need nothing from
the middleware, a GET for PUBLIC streams only, asking for text/event-stream, with no Origin header
(CORS is django-cors-headers' decision), are served here by the same checks (access), the same body
(delivery) and the same headers (responses) as the views, plus what the project's security
middleware would add; everything else goes to Django unchanged.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncGenerator

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.urls import resolve

from liveevents import views
from liveevents.access import Admission, Refusal, check_request
from liveevents.delivery import stream_body
from liveevents.pacer import ASGIApp, Receive, Scope, Send, pacer_of
from liveevents.responses import encoded_stream_headers, middleware_headers, refusal_body, refusal_headers
from liveevents.streams import get_stream

logger = logging.getLogger(__name__)

Headers = tuple[tuple[bytes, bytes], ...]


async def serve_public_streams(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve the request if it is for public streams only, else pass it to `app` unchanged."""
    if scope.get("type") == "http" and scope.get("method") == "GET" and _wants_stream(scope):
        opened = await _open(scope, send)
        if opened is not None:
            if opened:
                admission, headers = opened
                await _stream(admission, headers, stream_body(admission, pacer_of(scope)), receive, send)
            return
    await app(scope, receive, send)


async def _open(scope: Scope, send: Send) -> tuple[Admission, Headers] | tuple[()] | None:
    """None: not for public streams only (Django serves it). Else the checks have run: an empty
    tuple when they refused (the answer is sent), else the admission and the headers to send
    (one tuple shared by all connections). The request is built for the checks alone and not
    kept for the stream's lifetime (it costs kilobytes per connection): only this coroutine,
    which returns at once, holds it."""
    request = _public_stream_request(scope)
    if request is None:
        return None
    stream = request.resolver_match.kwargs.get("stream") if request.resolver_match else None
    answer = await check_request(request, stream)
    extra = middleware_headers(request)
    if isinstance(answer, Refusal):
        headers = _encode([*refusal_headers(answer), *extra])
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": refusal_body(answer)})
        return ()
    return answer, encoded_stream_headers(request.is_secure())


def _public_stream_request(scope: Scope) -> ASGIRequest | None:
    """The request, when it asks for public streams through liveevents' views and passes what
    the middleware would check (ALLOWED_HOSTS, the query string, the SSL redirect); else None:
    Django serves it, and answers it with 400, 404, 403 or a redirect as it would."""
    try:
        request = ASGIRequest(scope, io.BytesIO())
        request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it
        request.GET  # noqa: B018 (parsed now: a malformed query string is Django's to answer)
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            return None  # SecurityMiddleware redirects it
        match = resolve(request.path_info)
    except Exception:  # noqa: BLE001 (a bad host, path or query string: Django answers with 400 or 404)
        return None
    names: list[object]
    if match.func is views.stream_view:
        names = [match.kwargs.get("stream")]
    elif match.func is views.streams_view:
        names = list(request.GET.getlist("stream"))
    else:
        return None
    for name in names:
        spec = get_stream(name) if isinstance(name, str) else None
        if spec is None or not spec.public:
            return None  # Django answers: its 404, or its middleware and the readers' decision
    request.resolver_match = match
    return request


async def _stream(
    admission: Admission, headers: Headers, body: AsyncGenerator[bytes], receive: Receive, send: Send
) -> None:
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
            logger.debug("receive() failed; ending the stream.", exc_info=True)
        gone = True
        streaming.cancel()

    watcher = asyncio.ensure_future(watch_for_disconnect())
    try:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        async for chunk in body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        if not gone:
            raise  # the server is cancelling us
        streaming.uncancel()
    except OSError as error:  # the client went away mid-write (servers differ in how they say it)
        logger.debug("Client gone (%s).", error)
    finally:
        watcher.cancel()
        await body.aclose()
        admission.slot.release()


def _wants_stream(scope: Scope) -> bool:
    accepts = False
    for name, value in scope.get("headers") or ():
        if name == b"origin":
            return False  # cross-origin: django-cors-headers decides
        if name == b"accept" and b"text/event-stream" in value:
            accepts = True
    return accepts


def _encode(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
