"""The body of a stream response, for one stream or several: retry, replay, live frames, the end.

What the Django view and the ASGI router both stream, after access.check_request admitted it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator

from liveevents.access import Admission
from liveevents.conf import get_config
from liveevents.cursor import format_cursor
from liveevents.frames import Frame, closed_among_others, closed_frame, logged_frame, reset_frame
from liveevents.hub import StreamHub
from liveevents.log import read_events, run_in_db_thread
from liveevents.pacer import TransportPacer
from liveevents.sse import encode_retry
from liveevents.subscription import Subscription

logger = logging.getLogger(__name__)


class Positions:
    """Where one connection stands in each stream it follows, and how its frames are written:
    plain ids on a stream's own URL, the cursor (the frame's stream first) on the multiplexed one."""

    __slots__ = ("at", "multiplexed", "open", "order")

    def __init__(self, order: tuple[str, ...], at: dict[str, int], multiplexed: bool) -> None:
        self.order = order
        self.at = at
        self.multiplexed = multiplexed
        # The streams still open: only the multiplexed endpoint closes one and goes on (a set of
        # its own for every one-stream connection would cost each of them a few hundred bytes).
        self.open: set[str] | tuple[str, ...] = set(order) if multiplexed else order

    def logged(self, frame: Frame) -> bytes:
        assert frame.stream is not None and frame.id is not None
        if not self.multiplexed:
            self.at[frame.stream] = frame.id
            return frame.payload
        return self.with_cursor(frame.stream, frame.id, frame.payload[frame.body_at :])

    def with_cursor(self, stream: str, event_id: int, body: bytes) -> bytes:
        """An event's body behind the cursor of the connection once at `event_id` of `stream`."""
        self.at[stream] = event_id
        return b"id: " + format_cursor(self.at, stream, self.order).encode() + b"\n" + body

    def closed(self, stream: str, payload: bytes | None = None) -> bytes:
        """What ends `stream` for this connection: `payload` if the frame brings its own, else
        the multiplexed endpoint's closedConnection naming it."""
        if isinstance(self.open, set):
            self.open.discard(stream)
            return closed_among_others(stream) if payload is None else payload
        self.open = ()
        return b"" if payload is None else payload


async def stream_body(admission: Admission, pacer: TransportPacer | None = None) -> AsyncGenerator[bytes]:
    """Retry, replay after each position, then live frames, until the streams close, the client
    leaves, or it falls too far behind. With a pacer (daphne behind StreamBackpressure) nothing more
    is written while the client's socket is full; its bounded queue then overflows and it is cut off.

    One generator for the whole response, held by each connection for its lifetime: every chunk
    passes through it alone, and it keeps nothing it does not need. The bytes of each chunk are
    added to hub.unrecorded_bytes as it is handed over: one integer addition per write.
    """
    hub = admission.hub
    try:
        try:
            # Subscribed before the first byte: a client that sees `retry:` misses nothing after it.
            subscription = await hub.subscribe(admission.streams, admission.guarded)
        except Exception:
            logger.exception("Could not open %s; the client will reconnect.", ", ".join(admission.streams))
            yield _counted(hub, encode_retry(get_config()["RETRY"]))
            return
        try:
            yield _counted(hub, encode_retry(get_config()["RETRY"]))
            if pacer is not None:
                pacer.start()
            # Each stream from the client's position, else from where its live frames begin (then
            # no replay needs start_ids any more: they become the positions, a dict the less).
            at = subscription.start_ids
            if admission.positions:
                at = {name: admission.positions.get(name, at[name]) for name in admission.streams}
            positions = Positions(admission.streams, at, admission.multiplexed)
            if subscription.closed:
                if not admission.multiplexed:
                    yield _counted(hub, closed_frame(admission.streams[0]).payload)
                    return
                yield _counted(
                    hub,
                    b"".join(
                        positions.closed(name) for name in admission.streams if name in subscription.closed
                    ),
                )
                hub.unsubscribe(subscription, subscription.closed)
            for name in admission.streams:
                if name in admission.positions and name in positions.open:
                    async for chunk in _replay(admission, subscription, positions, name):
                        if pacer is not None:
                            await subscription.wait_until_writable(pacer.writable)
                        if subscription.overflowed:
                            break
                        yield _counted(hub, chunk)
            # The hot path: every event, for every connection. Locals, one unpacking of each frame,
            # and a stream's own URL writes the frame's bytes as they are.
            at = positions.at
            multiplexed = admission.multiplexed
            while positions.open and not subscription.overflowed:
                if pacer is not None:
                    await subscription.wait_until_writable(pacer.writable)
                    if subscription.overflowed:
                        break
                # Whatever queued up while we waited goes out in one write.
                chunks: list[bytes] = []
                final = False
                for frame in await subscription.take():
                    stream, event_id, payload, body_at, reset, closed, final, forbidden = frame
                    if stream is None:  # the connection's own: a keepalive, or the drain that ends it
                        chunks.append(payload)
                    elif stream not in positions.open:
                        continue
                    elif closed:
                        if multiplexed:
                            chunks.append(positions.closed(stream, payload if forbidden else None))
                            hub.unsubscribe(subscription, (stream,))
                            final = not positions.open
                        else:
                            chunks.append(payload)
                            final = True
                    elif reset:
                        chunks.append(positions.logged(frame))
                    else:
                        assert event_id is not None
                        position = at[stream]
                        if event_id <= position:
                            continue
                        if event_id > position + 1:
                            # The hub delivered past us (we joined mid-catch-up): read the hole.
                            missing = await run_in_db_thread(
                                read_events, stream, position, event_id - 1 - position, event_id - 1
                            )
                            chunks.extend(positions.logged(logged_frame(stream, event)) for event in missing)
                        if multiplexed:
                            chunks.append(positions.with_cursor(stream, event_id, payload[body_at:]))
                        else:
                            at[stream] = event_id
                            chunks.append(payload)
                    if final:
                        break
                if chunks:
                    chunk = b"".join(chunks)
                    hub.unrecorded_bytes += len(chunk)
                    yield chunk
                    del chunk  # not held while the connection waits for more
                if final:
                    return
            if subscription.overflowed and pacer is not None:
                # Its socket is full: drop it now rather than queue the end of the response behind it.
                pacer.abort()
        finally:
            hub.unsubscribe(subscription)
    finally:
        admission.slot.release()


def _counted(hub: StreamHub, chunk: bytes) -> bytes:
    """`chunk`, its bytes added to what the hub reports as written."""
    hub.unrecorded_bytes += len(chunk)
    return chunk


async def _replay(
    admission: Admission, subscription: Subscription, positions: Positions, stream: str
) -> AsyncIterator[bytes]:
    """Every logged event of `stream` after the client's position, in order, a batch per chunk;
    a reset instead when they are gone or the position is ahead of the log."""
    hub = admission.hub
    metrics = hub.metrics
    metrics.replays.inc()
    last_id = admission.positions[stream]
    start_id = subscription.start_ids[stream]
    read = await hub.replays.read_after(stream, last_id, start_id, hub.delivered(stream))
    # Every id up to the head was committed before the head was read (ids follow commit order), so
    # a first event other than last_id + 1 can only mean pruning, never a commit in between.
    if last_id > read.head or (read.head > last_id and read.first != last_id + 1):
        metrics.resets.inc()
        yield positions.logged(reset_frame(stream, read.head))
        return
    while read.last is not None:
        metrics.events_replayed.inc(len(read.marks))
        if admission.multiplexed:
            yield b"".join(positions.with_cursor(stream, event_id, body) for event_id, body in read.bodies())
        else:
            positions.at[stream] = read.last
            yield read.payload
        if read.last >= read.head:
            return
        read = await hub.replays.read_after(stream, read.last, start_id, hub.delivered(stream))
