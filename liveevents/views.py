"""The SSE endpoint: checks the request, then streams replay from the log followed by live events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from liveevents.asgi import PACER_EXTENSION, TransportPacer
from liveevents.conf import get_config
from liveevents.hub import CLOSED_FRAME, StreamHub, encode_logged, get_hub, reset_frame
from liveevents.log import read_events, read_heads, run_in_db_thread
from liveevents.sse import encode_retry
from liveevents.streams import PUBLIC, get_stream

if TYPE_CHECKING:
    from django.core.handlers.asgi import ASGIRequest

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/event-stream; charset=utf-8"


def _plain(message: str, status: int, **headers: str) -> HttpResponse:
    return HttpResponse(
        message + "\n", status=status, content_type="text/plain; charset=utf-8", headers=headers
    )


def parse_last_event_id(request: HttpRequest) -> int | None:
    """The client's last id: the Last-Event-ID header, else the lastEventId query parameter.
    Raises ValueError when it is not a non-negative integer."""
    raw = request.headers.get("Last-Event-ID")
    if raw is None:
        raw = request.GET.get("lastEventId")
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise ValueError(raw)
    return int(raw)


@csrf_exempt  # GET only: other methods get 405 rather than a CSRF 403.
@require_GET
async def stream_view(request: ASGIRequest, stream: str) -> HttpResponseBase:
    """Serve `stream` as text/event-stream to readers its declaration allows."""
    answer = await check_stream_request(request, stream)
    if isinstance(answer, HttpResponse):
        return answer
    hub, last_id = answer
    pacer = (request.scope.get("extensions") or {}).get(PACER_EXTENSION)
    response = StreamingHttpResponse(stream_events(hub, stream, last_id, pacer), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    # A Content-Encoding header, even empty, keeps GZipMiddleware away from the stream.
    response["Content-Encoding"] = ""
    return response


async def check_stream_request(
    request: HttpRequest, stream: str
) -> HttpResponse | tuple[StreamHub, int | None]:
    """Everything a stream request must pass, in order: the hub and the client's last id when it may
    be served, else the answer to send (404, 406, 400, 403, 204 when closed, 503 when full)."""
    spec = get_stream(stream)
    if spec is None:
        return _plain(f"Unknown stream {stream!r}.", 404)
    if not request.accepts("text/event-stream"):
        return _plain("This URL serves Server-Sent Events: send 'Accept: text/event-stream'.", 406)
    try:
        last_id = parse_last_event_id(request)
    except ValueError as error:
        return _plain(
            f"Invalid last event id {str(error)[:40]!r}: Last-Event-ID (or lastEventId) "
            "must be a non-negative integer.",
            400,
        )
    # In the log readers' threads: they live as long as the process, and so do their connections
    # (a short-lived thread's connection would be left for the garbage collector to drop unclosed).
    if spec.readers is not PUBLIC and not await run_in_db_thread(spec.readers, request):
        return _plain(f"You may not read stream {stream!r}.", 403)

    hub = get_hub()
    closed = hub.is_closed(stream)
    if closed is None:
        head = (await run_in_db_thread(read_heads, [stream])).get(stream)
        closed = head is not None and head.closed
    if closed:
        return HttpResponse(status=204)
    config = get_config()
    if hub.draining or hub.connection_count >= config["MAX_CONNECTIONS"]:
        return _plain(
            "This server is shutting down or has too many open streams; retry later.",
            503,
            **{"Retry-After": str(config["RETRY_AFTER"])},
        )
    return hub, last_id


async def stream_events(
    hub: StreamHub, stream: str, last_id: int | None, pacer: TransportPacer | None = None
) -> AsyncIterator[bytes]:
    """The body of one SSE response: retry, replay after `last_id`, then live frames.

    With a pacer (daphne behind StreamBackpressure) nothing more is written while the client's
    socket is full; the hub's bounded queue then overflows and the client is cut off.
    """
    try:
        # Subscribed before the first byte: a client that sees `retry:` misses nothing after it.
        subscription = await hub.subscribe(stream)
    except Exception:
        logger.exception("Could not open stream %r; the client will reconnect.", stream)
        yield encode_retry(get_config()["RETRY"])
        return
    try:
        yield encode_retry(get_config()["RETRY"])
        if pacer is not None:
            pacer.start()
        if subscription.closed:
            yield CLOSED_FRAME.payload
            return
        position = subscription.start_id
        if last_id is not None:
            position = last_id
            async for position, payload in _replay(hub, stream, last_id, subscription.start_id):  # noqa: B007
                if pacer is not None:
                    await subscription.wait_until_writable(pacer.writable)
                if subscription.overflowed:
                    break
                yield payload
        while not subscription.overflowed:
            if pacer is not None:
                await subscription.wait_until_writable(pacer.writable)
                if subscription.overflowed:
                    break
            # Whatever queued up while we waited goes out in one write.
            chunks: list[bytes] = []
            final = False
            for frame in await subscription.take():
                if frame.reset:
                    position = frame.id or 0
                elif frame.id is not None:
                    if frame.id <= position:
                        continue
                    if frame.id > position + 1:
                        # The hub delivered past us (we joined mid-catch-up): read the hole from the log.
                        missing = await run_in_db_thread(
                            read_events, stream, position, frame.id - 1 - position, frame.id - 1
                        )
                        chunks.extend(encode_logged(event).payload for event in missing)
                    position = frame.id
                chunks.append(frame.payload)
                if frame.final:
                    final = True
                    break
            if chunks:
                yield b"".join(chunks)
            if final:
                return
        if pacer is not None:
            # Its socket is full: drop it now rather than queue the end of the response behind it.
            pacer.abort()
    finally:
        hub.unsubscribe(subscription)


async def _replay(
    hub: StreamHub, stream: str, last_id: int, start_id: int
) -> AsyncIterator[tuple[int, bytes]]:
    """Every logged event after `last_id`, in order, a batch per chunk: (last id in it, bytes).
    A reset instead when they are gone or `last_id` is ahead. `start_id`: where live frames begin."""
    read = await hub.read_after(stream, last_id, start_id)
    # Every id up to the head was committed before the head was read (ids follow commit order), so
    # a first event other than last_id + 1 can only mean pruning, never a commit in between.
    if last_id > read.head or (read.head > last_id and read.first != last_id + 1):
        yield read.head, reset_frame(stream, read.head).payload
        return
    while read.last is not None:
        yield read.last, read.payload
        if read.event_count < hub.batch:
            return
        read = await hub.read_after(stream, read.last, start_id)
