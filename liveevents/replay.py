"""Replay reads: the events after a client's position, shared by the connections asking for them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, NamedTuple, TypeVar

from liveevents.frames import logged_frame
from liveevents.log import read_head_then_events, run_in_db_thread

T = TypeVar("T")
Spawn = Callable[[Coroutine[Any, Any, "LogSlice"]], "asyncio.Task[LogSlice]"]

MAX_SHARED_READS = 256


class LogSlice(NamedTuple):
    """A replay read: the stream's head, then logged events (ids `first`..`last`) as the bytes a
    stream's own URL writes in one go, held once; `marks` say where each event's body lies in
    them, for the multiplexed endpoint, which writes its cursor before each body instead."""

    head: int
    first: int | None
    last: int | None
    payload: bytes
    marks: tuple[tuple[int, int, int], ...]  # (event id, start of its body, end), per event

    def bodies(self) -> Iterator[tuple[int, bytes]]:
        for event_id, start, end in self.marks:
            yield event_id, self.payload[start:end]


class SharedReads:
    """Replay reads by (stream, last id). A reconnect storm (a restart, a network blip) brings
    thousands of connections asking for the same events at once: they share one read, reused
    while nothing newer was delivered.

    A shared read is only used when it reaches far enough: up to `start_id`, where the
    connection's live frames begin, and up to `last_id`, which the client has seen, so that a read
    made for someone else (before an event was delivered, or for an id ahead of the log) never
    leaves a hole or sends a false reset. Otherwise the connection reads for itself.
    """

    def __init__(self, batch: int, max_bytes: int, spawn: Spawn) -> None:
        self.batch = batch
        self.max_bytes = max_bytes
        self._spawn = spawn
        self._reads: dict[tuple[str, int], asyncio.Future[LogSlice]] = {}

    def clear(self) -> None:
        self._reads.clear()

    async def read_after(self, stream: str, last_id: int, start_id: int, delivered: int | None) -> LogSlice:
        """The head, then up to a batch of events after `last_id`, for a connection whose live
        frames begin after `start_id`. `delivered`: what the hub has delivered on the stream."""
        key = (stream, last_id)
        read = self._reads.get(key)
        if read is not None and read.done():
            failed = read.cancelled() or read.exception() is not None
            if failed or delivered is None or read.result().head < delivered:
                read = None  # it failed, or events were delivered since: read afresh
        if read is None:
            read = self._spawn(self._read(stream, last_id))
            if len(self._reads) < MAX_SHARED_READS:
                self._reads[key] = read
        result = await asyncio.shield(read)
        if result.head < max(last_id, start_id):
            if self._reads.get(key) is read:
                del self._reads[key]
            result = await self._read(stream, last_id)
        return result

    async def _read(self, stream: str, last_id: int) -> LogSlice:
        head, events = await run_in_db_thread(
            read_head_then_events, stream, last_id, self.batch, self.max_bytes
        )
        if not events:
            return LogSlice(head, None, None, b"", ())
        payloads, marks = [], []
        offset = 0
        for event in events:
            frame = logged_frame(stream, event)
            marks.append((event.id, offset + frame.body_at, offset + len(frame.payload)))
            payloads.append(frame.payload)
            offset += len(frame.payload)
        return LogSlice(head, events[0].id, events[-1].id, b"".join(payloads), tuple(marks))
