"""StreamHub: one channel-layer subscription per process, fanned out to local connections.

The layer is at-most-once, so the hub never trusts it alone: wake-ups that skip ids are
repaired from the log, and a periodic tick compares the log's head with what was delivered.
A lost wake-up therefore costs at most one tick of delay, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import signal
import threading
import time
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, NamedTuple, TypeVar

from channels.layers import InMemoryChannelLayer, get_channel_layer

from liveevents.conf import get_config
from liveevents.log import (
    LoggedEvent,
    StreamHead,
    read_events,
    read_head_then_events,
    read_heads,
    run_in_db_thread,
)
from liveevents.publish import CONTROL_MESSAGE, EVENT_MESSAGE, group_name
from liveevents.retention import prune_events
from liveevents.sse import KEEPALIVE, encode_event, encode_retry

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Frame(NamedTuple):
    """Bytes for one connection to write.

    `id` is set for logged events and for resets, which move the connection to that id.
    `final` frames end the response once written.
    """

    id: int | None
    payload: bytes
    final: bool = False
    reset: bool = False


class LogSlice(NamedTuple):
    """A replay read: the stream's head, then `event_count` logged events (ids `first`..`last`) as
    the bytes of their frames, written to a connection in one go."""

    head: int
    first: int | None
    last: int | None
    event_count: int  # not `count`: that would shadow tuple.count()
    payload: bytes


def encode_logged(event: LoggedEvent) -> Frame:
    return Frame(event.id, encode_event(event.data, event=event.event, id=event.id))


class Subscription:
    """One connection's place in the hub: a bounded list of frames waiting to be written.

    Lean on purpose (no asyncio.Queue: its three deques and an Event cost ~1.5 KiB per idle
    connection): frames are kept only while they wait, and the writer takes all of them at once.
    """

    __slots__ = ("_cut_off", "_frames", "_waiter", "closed", "overflowed", "size", "start_id", "stream")

    def __init__(self, stream: str, size: int) -> None:
        self.stream = stream
        self.size = size
        self._frames: list[Frame] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.overflowed = False
        self.start_id = 0
        self.closed = False
        self._cut_off: asyncio.Event | None = None

    def offer(self, frame: Frame) -> None:
        if self.overflowed:
            return
        if self._frames is None:
            self._frames = [frame]
        elif len(self._frames) < self.size:
            self._frames.append(frame)
        else:
            # The connection cannot keep up: it is ended and replays from the log on reconnect.
            self.overflowed = True
            if self._cut_off is not None:
                self._cut_off.set()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def take(self) -> list[Frame]:
        """Every frame waiting, oldest first, once there is at least one (or the connection was
        cut off: then possibly none)."""
        while not self._frames and not self.overflowed:
            self._waiter = asyncio.get_running_loop().create_future()
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


@dataclass(eq=False)
class _StreamState:
    name: str
    subscribers: set[Subscription] = field(default_factory=set)
    delivered: int = 0
    wanted: int = 0
    closed: bool = False
    last_frame_at: float = field(default_factory=time.monotonic)
    ready: asyncio.Future[None] | None = None
    joining: int = 0  # connections waiting for `ready`: the state must not be forgotten under them
    catching_up: asyncio.Task[None] | None = None


MAX_SHARED_READS = 256

CLOSED_FRAME = Frame(None, encode_event("", event="closedConnection"), final=True)
DRAIN_FRAME = Frame(None, encode_retry(250), final=True)


class StreamHub:
    """Per-process, per-event-loop subscriber: use get_hub()."""

    def __init__(self) -> None:
        config = get_config()
        self.layer_alias: str = config["CHANNEL_LAYER"]
        self.layer = get_channel_layer(self.layer_alias)
        self.heartbeat = float(config["HEARTBEAT"])
        self.queue_size = int(config["QUEUE_SIZE"])
        self.batch = int(config["REPLAY_BATCH"])
        interval = config["CATCH_UP_INTERVAL"]
        if interval is None:
            crosses_processes = self.layer is not None and not isinstance(self.layer, InMemoryChannelLayer)
            interval = self.heartbeat if crosses_processes else 1.0
        self.tick_interval = min(float(interval), self.heartbeat / 2)
        group_expiry = getattr(self.layer, "group_expiry", None)
        if group_expiry:
            # Membership is renewed every tick, so it can never expire under a live stream.
            self.tick_interval = min(self.tick_interval, float(group_expiry) / 3)
        prune_interval = config["PRUNE_INTERVAL"]
        self.retention_days: float | None = config["RETENTION_DAYS"]
        self.prune_interval: float | None = float(prune_interval) if prune_interval else None
        self._next_prune = time.monotonic()
        self.shutdown_drain: float | None = config["SHUTDOWN_DRAIN"]
        self.draining = False
        self.channel: str | None = None
        self.streams: dict[str, _StreamState] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._receiver: asyncio.Task[None] | None = None
        # Replay reads by (stream, last id): one read serves every connection that asks for the same
        # events while it is under way, and after it as long as nothing newer was delivered.
        self._reads: dict[tuple[str, int], asyncio.Future[LogSlice]] = {}
        self._ticker: asyncio.Task[None] | None = None

    # Connections

    @property
    def connection_count(self) -> int:
        return sum(len(state.subscribers) for state in self.streams.values())

    def is_closed(self, stream: str) -> bool | None:
        """The stream's closed state if this hub follows it, else None (ask the log)."""
        state = self.streams.get(stream)
        return None if state is None or state.ready is None or not state.ready.done() else state.closed

    async def subscribe(self, stream: str) -> Subscription:
        """Register a connection; frames for ids above `subscription.start_id` will reach it."""
        while True:
            state = self.streams.get(stream)
            if state is None:
                state = _StreamState(stream)
                self.streams[stream] = state
                state.ready = self._spawn(self._open_stream(state))
            ready = state.ready
            assert ready is not None  # set as the state is created, above
            state.joining += 1
            try:
                # Shielded: a connection cancelled here leaves the stream opening for the others.
                await asyncio.shield(ready)
            finally:
                state.joining -= 1
            if self.streams.get(stream) is state:
                break
            # Forgotten while we waited (its last listener left): open it afresh.
        subscription = Subscription(stream, self.queue_size)
        subscription.start_id = state.delivered
        subscription.closed = state.closed
        state.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a connection. Synchronous, so it is safe in a cancelled generator's finally."""
        state = self.streams.get(subscription.stream)
        if state is None:
            return
        state.subscribers.discard(subscription)
        if not state.subscribers:
            self._forget(state)

    async def read_after(self, stream: str, last_id: int, start_id: int = 0) -> LogSlice:
        """The stream's head, then up to `batch` logged events after `last_id`, encoded as one chunk,
        for a connection that will get live frames above `start_id`.

        A reconnect storm (a restart, a network blip) brings thousands of connections asking for
        the same events at once: they share one read, reused while nothing newer was delivered.
        A shared read is only used when it reaches far enough: up to `start_id`, where this
        connection's live frames begin, and up to `last_id`, which the client has seen, so that a
        read made for someone else (before an event was delivered, or for an id ahead of the log)
        never leaves a hole or sends a false reset. Otherwise the connection reads for itself.
        """
        key = (stream, last_id)
        read = self._reads.get(key)
        if read is not None and read.done():
            state = self.streams.get(stream)
            failed = read.cancelled() or read.exception() is not None
            if failed or state is None or read.result().head < state.delivered:
                read = None  # it failed, or events were delivered since: read afresh
        if read is None:
            read = self._spawn(self._read_after(stream, last_id))
            if len(self._reads) < MAX_SHARED_READS:
                self._reads[key] = read
        result = await asyncio.shield(read)
        if result.head < max(last_id, start_id):
            if self._reads.get(key) is read:
                del self._reads[key]
            result = await self._read_after(stream, last_id)
        return result

    async def _read_after(self, stream: str, last_id: int) -> LogSlice:
        head, events = await run_in_db_thread(read_head_then_events, stream, last_id, self.batch)
        if not events:
            return LogSlice(head, None, None, 0, b"")
        payload = b"".join(encode_logged(event).payload for event in events)
        return LogSlice(head, events[0].id, events[-1].id, len(events), payload)

    def _forget(self, state: _StreamState) -> None:
        if (
            state.ready is None
            or not state.ready.done()
            or state.subscribers
            or state.joining
            or self.streams.get(state.name) is not state
        ):
            return
        del self.streams[state.name]
        if state.catching_up is not None:
            state.catching_up.cancel()
        self._spawn(self._leave_group(state.name))
        if not self.streams:
            self._stop()

    async def _open_stream(self, state: _StreamState) -> None:
        try:
            self._start()
            # Join before reading the head: anything committed after the read is then heard.
            await self._join_group(state.name)
            heads = await run_in_db_thread(read_heads, [state.name])
        except BaseException:
            if self.streams.get(state.name) is state:
                del self.streams[state.name]
            raise
        head = heads.get(state.name, StreamHead(0, False))
        state.delivered = state.wanted = head.last_id
        state.closed = head.closed

    # Channel layer

    def _start(self) -> None:
        if self.shutdown_drain:
            drain_on_sigterm()
        if self._ticker is None:
            self._ticker = self._spawn(self._tick_forever())
        if self._receiver is None and self.layer is not None:
            self._receiver = self._spawn(self._receive_forever())

    def _stop(self) -> None:
        self._reads.clear()
        for task in (self._receiver, self._ticker):
            if task is not None:
                task.cancel()
        self._receiver = self._ticker = None

    async def _channel_name(self) -> str:
        if self.channel is None:
            assert self.layer is not None
            # types-channels gives BaseChannelLayer.new_channel() no `prefix`, as channels' base class
            # has none; every layer (in-memory, channels_redis's two) takes it.
            self.channel = await self.layer.new_channel(prefix="liveevents")  # type: ignore[call-arg]
        return self.channel

    async def _join_group(self, stream: str) -> None:
        if self.layer is None:
            return
        try:
            await self.layer.group_add(group_name(stream), await self._channel_name())
        except Exception:
            logger.warning(
                "Channel layer unavailable; stream %r follows the log only.", stream, exc_info=True
            )

    async def _leave_group(self, stream: str) -> None:
        if self.layer is None or self.channel is None or stream in self.streams:
            return
        try:
            await self.layer.group_discard(group_name(stream), self.channel)
        except Exception:
            logger.warning("Could not leave the group of stream %r.", stream, exc_info=True)

    async def _receive_forever(self) -> None:
        assert self.layer is not None  # started only with a layer (_start)
        delay = 0.1
        while True:
            try:
                message = await self.layer.receive(await self._channel_name())
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Channel layer receive failed; retrying in %.1fs.", delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            self.handle_message(message)

    def handle_message(self, message: dict[str, Any]) -> None:
        state = self.streams.get(message.get("stream", ""))
        if state is None or state.ready is None or not state.ready.done():
            return
        if message.get("type") == EVENT_MESSAGE:
            event_id = int(message["id"])
            if event_id <= state.delivered:
                return
            state.wanted = max(state.wanted, event_id)
            if event_id == state.delivered + 1 and state.catching_up is None:
                event = LoggedEvent(event_id, message["event"], message["data"])
                self._fan_out(state, encode_logged(event))
                state.delivered = event_id
            else:
                self._catch_up(state)
        elif message.get("type") == CONTROL_MESSAGE:
            self._set_closed(state, bool(message["closed"]))

    # Delivery

    def _fan_out(self, state: _StreamState, frame: Frame) -> None:
        state.last_frame_at = time.monotonic()
        for subscription in state.subscribers:
            subscription.offer(frame)

    def _set_closed(self, state: _StreamState, closed: bool) -> None:
        if closed and not state.closed:
            self._fan_out(state, CLOSED_FRAME)
        state.closed = closed

    def _catch_up(self, state: _StreamState) -> None:
        if state.catching_up is None:
            state.catching_up = self._spawn(self._read_log_until_wanted(state))

    async def _read_log_until_wanted(self, state: _StreamState) -> None:
        try:
            while state.delivered < state.wanted:
                events = await run_in_db_thread(read_events, state.name, state.delivered, self.batch)
                if not events:
                    break
                for event in events:
                    if event.id != state.delivered + 1:
                        # A hole in the log: pruned while we were behind. Listeners must reload.
                        self._fan_out(state, reset_frame(state.name, event.id - 1))
                    self._fan_out(state, encode_logged(event))
                    state.delivered = event.id
        except Exception:
            logger.warning("Catching up stream %r from the log failed.", state.name, exc_info=True)
        finally:
            state.catching_up = None

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                await self.tick()
            except Exception:
                logger.warning("Hub tick failed; retrying next tick.", exc_info=True)

    async def tick(self) -> None:
        """Refresh group membership, compare log heads with deliveries, send heartbeats."""
        self._reads.clear()
        for state in list(self.streams.values()):
            if not state.subscribers:
                self._forget(state)
        states = [s for s in self.streams.values() if s.ready is not None and s.ready.done()]
        if not states:
            return
        for state in states:
            # Re-joining is idempotent and renews membership that the layer may have expired.
            await self._join_group(state.name)
        # What each stream had before the read: wake-ups may deliver newer events (or close it)
        # while the read is under way, and the head must only be compared with what it could see.
        before = {state: (state.delivered, state.closed) for state in states}
        heads = await run_in_db_thread(read_heads, [s.name for s in states])
        for state in states:
            head = heads.get(state.name, StreamHead(0, False))
            delivered_before, closed_before = before[state]
            if head.last_id < delivered_before:
                # The log went backwards (a reset database): everyone starts again from its head.
                self._fan_out(state, reset_frame(state.name, head.last_id))
                state.delivered = state.wanted = head.last_id
            elif head.last_id > state.delivered:
                state.wanted = max(state.wanted, head.last_id)
                self._catch_up(state)
            if state.closed == closed_before:
                self._set_closed(state, head.closed)
        now = time.monotonic()
        for state in states:
            if now - state.last_frame_at + self.tick_interval / 2 >= self.heartbeat:
                self._fan_out(state, Frame(None, KEEPALIVE))
        if self.prune_interval and self.retention_days and now >= self._next_prune:
            self._next_prune = now + self.prune_interval
            deleted = await run_in_db_thread(prune_events, self.retention_days)
            if deleted:
                logger.info("Pruned %d events older than %g days.", deleted, self.retention_days)

    def drain(self) -> None:
        """End every stream with a short retry, so browsers reconnect at once (to another process,
        behind a balancer) and replay from the log; new streams get 503 from now on."""
        self.draining = True
        for state in self.streams.values():
            self._fan_out(state, DRAIN_FRAME)

    def _spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        # A fresh context: hub tasks must not inherit (and outlive) the request that started them.
        task = asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        """Stop every task and leave every group (tests and shutdown)."""
        names = list(self.streams)
        self.streams.clear()
        self._stop()
        for task in list(self._tasks):
            task.cancel()
        if self.layer is not None and self.channel is not None:
            for name in names:
                with contextlib.suppress(Exception):
                    await self.layer.group_discard(group_name(name), self.channel)


def reset_frame(stream: str, current_id: int) -> Frame:
    """`streamReset`: the listener's id is too old or ahead of the log; it must reload its state."""
    data = json.dumps({"stream": stream, "lastEventId": current_id})
    return Frame(current_id, encode_event(data, event="streamReset", id=current_id), reset=True)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StreamHub] = weakref.WeakKeyDictionary()


def get_hub() -> StreamHub:
    """The hub of the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = StreamHub()
    return hub


_drain_installed = False


def drain_on_sigterm() -> None:
    """Install (once, from the main thread) a SIGTERM handler that drains every hub, then hands
    the signal to the server's own handler (daphne's, uvicorn's, or the default) to shut down."""
    global _drain_installed
    if _drain_installed or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def chain(signum: int) -> None:
        if callable(previous):
            previous(signum, None)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        delays: list[tuple[asyncio.AbstractEventLoop, float]] = []
        for loop, hub in list(_hubs.items()):
            if hub.streams and not loop.is_closed():
                loop.call_soon_threadsafe(hub.drain)
                delays.append((loop, hub.shutdown_drain or 0))
        if not delays:
            chain(signum)
            return
        loop, delay = delays[0]
        loop.call_soon_threadsafe(loop.call_later, delay, chain, signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    _drain_installed = True
