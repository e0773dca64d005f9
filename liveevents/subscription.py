"""Subscription: one connection's place in the hub, a bounded list of frames waiting to be written."""

from __future__ import annotations

import asyncio

from liveevents.frames import Frame
from liveevents.metrics import get_metrics

_NONE_CLOSED: frozenset[str] = frozenset()  # shared: a set of its own would cost every connection


class Subscription:
    """The frames of every stream one connection follows, in the order the hub fanned them out.

    Lean on purpose (no asyncio.Queue: its three deques and an Event cost ~1.5 KiB per idle
    connection): frames are kept only while they wait, and the writer takes all of them at once.
    A connection that falls `size` frames behind is cut off; it reconnects and replays from the log.
    """

    __slots__ = (
        "_cut_off", "_frames", "_loop", "_waiter", "closed", "overflowed", "size", "start_ids", "streams",
    )  # fmt: skip

    def __init__(self, streams: tuple[str, ...], size: int, loop: asyncio.AbstractEventLoop) -> None:
        self.streams = streams
        # The hub's loop, kept: asyncio.get_running_loop() costs a getpid() system call on every
        # call (a fork check), once per event and connection in take().
        self._loop = loop
        self.size = size
        self._frames: list[Frame] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.overflowed = False
        # Per stream: the id live frames start after, and whether it was closed when subscribed.
        self.start_ids: dict[str, int] = {}
        self.closed: frozenset[str] | set[str] = _NONE_CLOSED
        self._cut_off: asyncio.Event | None = None

    def offer(self, frame: Frame) -> None:
        """Queue `frame` and wake the writer now."""
        self.put(frame)
        self.wake()

    def put(self, frame: Frame) -> None:
        """Queue `frame`; the writer sees it at its next take(), or when wake() is called. The hub
        queues an event for all of a stream's connections, then wakes them together (StreamHub)."""
        if self.overflowed:
            return
        if self._frames is None:
            self._frames = [frame]
        elif len(self._frames) < self.size:
            self._frames.append(frame)
        else:
            # The connection cannot keep up: it is ended and replays from the log on reconnect.
            self.overflowed = True
            get_metrics().cut_off.inc()
            if self._cut_off is not None:
                self._cut_off.set()
            self.wake()

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def take(self) -> list[Frame]:
        """Every frame waiting, oldest first, once there is at least one (or the connection was
        cut off: then possibly none)."""
        while not self._frames and not self.overflowed:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        frames, self._frames = self._frames or [], None
        return frames

    async def wait_until_writable(self, writable: asyncio.Event) -> None:
        """Wait for the socket to take more bytes, or for this connection to be cut off."""
        if writable.is_set() or self.overflowed:
            return
        if self._cut_off is None:
            self._cut_off = asyncio.Event()
        waiters = {asyncio.ensure_future(writable.wait()), asyncio.ensure_future(self._cut_off.wait())}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
