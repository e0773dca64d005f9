"""StreamHub: one channel-layer subscription per process, fanned out to local connections.

The layer is at-most-once, so the hub never trusts it alone: wake-ups that skip ids are
repaired from the log, and a periodic tick compares the log's head with what was delivered.
A lost wake-up therefore costs at most one tick of delay, never an event.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import math
import time
import weakref
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from channels.layers import InMemoryChannelLayer, get_channel_layer

from liveevents.conf import get_config
from liveevents.frames import DRAIN_FRAME, KEEPALIVE_FRAME, Frame, closed_frame, logged_frame, reset_frame
from liveevents.guard import AccessGuard, Guarded
from liveevents.layer import LayerLink
from liveevents.log import LoggedEvent, StreamHead, read_events, read_heads, run_in_db_thread
from liveevents.metrics import StreamMetrics, get_metrics
from liveevents.replay import SharedReads
from liveevents.retention import prune_events
from liveevents.shutdown import drain_on_sigterm
from liveevents.subscription import Subscription
from liveevents.wakeup import ACCESS_GROUP, ACCESS_MESSAGE, CONTROL_MESSAGE, EVENT_MESSAGE

logger = logging.getLogger(__name__)

T = TypeVar("T")

# After a flush whose writes took d seconds, a stream's next flush waits PACE * d (StreamHub._flush):
# its writes take at most about 1 / (1 + PACE) of the loop's time, four fifths, however many
# events come. Less spends more of the loop on small batches; more delays a lone broadcast to
# thousands of connections, which waits for the pace as much as a busy stream's events do (daphne,
# 5,000 streams, broadcasts 0.2 s apart: p99 1.2 s at 1, 0.7 s at 0.25, benchmarks.run --quick).
PACE = 0.25


@dataclass(eq=False, slots=True)  # one per followed stream: thousands for a family
class _StreamState:
    name: str
    metrics: StreamMetrics  # shared by every stream of its family
    subscribers: set[Subscription] = field(default_factory=set)
    delivered: int = 0
    wanted: int = 0
    closed: bool = False
    last_frame_at: float = field(default_factory=time.monotonic)
    ready: asyncio.Future[None] | None = None
    joining: int = 0  # connections waiting for `ready`: the state must not be forgotten under them
    catching_up: asyncio.Task[None] | None = None
    joined_at: float = 0.0  # when the hub last joined (or renewed) the stream's group
    # Pacing (StreamHub._fan_out): frames queued and not yet woken for, when the next wake-up may
    # happen, and the commit times of the events it will deliver (for the lag histogram).
    flush: asyncio.TimerHandle | None = None
    quiet_until: float = 0.0
    commits: list[float] | None = None


class StreamHub:
    """Per-process, per-event-loop subscriber: use get_hub()."""

    def __init__(self) -> None:
        config = get_config()
        self.layer_alias: str = config["CHANNEL_LAYER"]
        self.layer = get_channel_layer(self.layer_alias)
        self.heartbeat = float(config["HEARTBEAT"])
        self.queue_size = int(config["QUEUE_SIZE"])
        self.batch = int(config["REPLAY_BATCH"])
        self.max_connections = int(config["MAX_CONNECTIONS"])
        interval = config["CATCH_UP_INTERVAL"]
        if interval is None:
            crosses_processes = self.layer is not None and not isinstance(self.layer, InMemoryChannelLayer)
            interval = self.heartbeat if crosses_processes else 1.0
        self.tick_interval = min(float(interval), self.heartbeat / 2)
        group_expiry = getattr(self.layer, "group_expiry", None)
        # Memberships are renewed three times per expiry, so they never expire under a live
        # stream; between renewals a tick re-joins only the streams it found wake-ups missing
        # from (a restarted Redis forgets every group), so thousands of followed streams cost
        # the layer nothing per tick.
        self.renew_interval: float | None = float(group_expiry) / 3 if group_expiry else None
        if self.renew_interval is not None:
            self.tick_interval = min(self.tick_interval, self.renew_interval)
        self._access_joined_at = 0.0
        prune_interval = config["PRUNE_INTERVAL"]
        self.retention_days: float | None = config["RETENTION_DAYS"]
        self.prune_interval: float | None = float(prune_interval) if prune_interval else None
        self._next_prune = time.monotonic()
        self.shutdown_drain: float | None = config["SHUTDOWN_DRAIN"]
        self.draining = False
        self.link = LayerLink(self.layer)
        self.guard = AccessGuard(float(config["REVALIDATE_INTERVAL"]), self._spawn, self._follow_access)
        self.streams: dict[str, _StreamState] = {}
        # Connections admitted and not yet ended, streaming or about to: the cap counts these.
        self.connection_count = 0
        self.replays = SharedReads(self.batch, int(config["REPLAY_BYTES"]), self._spawn)
        self.metrics = get_metrics()
        # What stream bodies wrote since the last tick: an int to add to per write is all the
        # hot path pays; the tick hands it to the metrics.
        self.unrecorded_bytes = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._leaving: dict[str, None] = {}  # streams whose groups are to be left, in order
        self._leaver: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None

    # Connections

    def admit(self) -> bool:
        """Count a connection that passed its checks, unless the process is full or draining."""
        if self.draining or self.connection_count >= self.max_connections:
            return False
        self.connection_count += 1
        return True

    def release(self) -> None:
        """The end of a connection admit() counted."""
        self.connection_count -= 1

    def has_streams(self) -> bool:
        return bool(self.streams)

    def is_closed(self, stream: str) -> bool | None:
        """The stream's closed state if this hub follows it, else None (ask the log)."""
        state = self.streams.get(stream)
        return None if state is None or state.ready is None or not state.ready.done() else state.closed

    def delivered(self, stream: str) -> int | None:
        state = self.streams.get(stream)
        return None if state is None else state.delivered

    async def subscribe(self, streams: tuple[str, ...], guarded: Guarded | None = None) -> Subscription:
        """Register a connection on `streams`; frames for ids above `start_ids[stream]` reach it.
        With `guarded`, its non-public streams: their readers' decision is taken again while it
        lasts, and the connection loses a stream its reader may no longer read."""
        if len(streams) == 1:  # most connections: no task for gather() to make and schedule
            states = [await self._open(streams[0])]
        else:
            states = await asyncio.gather(*(self._open(name) for name in streams))
        # The loop is the subscription's to keep, not the hub's: _hubs is keyed by loops, weakly.
        subscription = Subscription(streams, self.queue_size, asyncio.get_running_loop())
        for state in states:
            subscription.start_ids[state.name] = state.delivered
            if state.closed:
                subscription.closed = {*subscription.closed, state.name}
            state.subscribers.add(subscription)
        for metrics in {state.metrics for state in states}:
            metrics.connections.inc()
        if guarded is not None:
            self.guard.watch(guarded, subscription)
        return subscription

    async def _open(self, stream: str) -> _StreamState:
        while True:
            state = self.streams.get(stream)
            if state is None:
                state = _StreamState(stream, self.metrics.stream(stream))
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
                return state
            # Forgotten while we waited (its last listener left): open it afresh.

    def unsubscribe(self, subscription: Subscription, streams: Iterable[str] | None = None) -> None:
        """Forget a connection (on `streams` only, if given). Synchronous, so it is safe in a
        cancelled generator's finally."""
        names = subscription.streams if streams is None else tuple(streams)
        # The guard first: forgetting the last stream stops the hub, and the guard with it.
        if self.guard:
            self.guard.forget(subscription, names)
        left: set[StreamMetrics] = set()
        for name in names:
            state = self.streams.get(name)
            if state is None:
                continue
            if subscription in state.subscribers:
                state.subscribers.remove(subscription)
                left.add(state.metrics)
            if not state.subscribers:
                self._forget(state)
        if left:
            # A label the connection still follows another stream of keeps counting it.
            left.difference_update(
                state.metrics
                for name in subscription.streams
                if (state := self.streams.get(name)) is not None and subscription in state.subscribers
            )
            for metrics in left:
                metrics.connections.dec()

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
        if state.flush is not None:
            state.flush.cancel()
        # Left in batches by one task: 10,000 connections closing together leave 10,000 groups
        # a few dozen at a time, not with 10,000 concurrent requests to the layer.
        self._leaving[state.name] = None
        if self._leaver is None:
            self._leaver = self._spawn(self._leave_groups())
        if not self.streams:
            self._stop()

    async def _open_stream(self, state: _StreamState) -> None:
        try:
            self._start()
            # Join before reading the head: anything committed after the read is then heard.
            await self.link.join(state.name)
            state.joined_at = time.monotonic()
            heads = await run_in_db_thread(read_heads, [state.name])
        except BaseException:
            if self.streams.get(state.name) is state:
                del self.streams[state.name]
            raise
        head = heads.get(state.name, StreamHead(0, False))
        state.delivered = state.wanted = head.last_id
        state.closed = head.closed

    # Tasks

    def _start(self) -> None:
        if self.shutdown_drain:
            drain_on_sigterm(asyncio.get_running_loop(), self)
        if self._ticker is None:
            self._ticker = self._spawn(self._tick_forever())
        if self._receiver is None and self.layer is not None:
            self._receiver = self._spawn(self.link.receive_forever(self.handle_message))

    def _stop(self) -> None:
        self.replays.clear()
        self._record_bytes()
        self.guard.stop()
        for task in (self._receiver, self._ticker):
            if task is not None:
                task.cancel()
        self._receiver = self._ticker = None

    def _record_bytes(self) -> None:
        self.metrics.bytes_written.inc(self.unrecorded_bytes)
        self.unrecorded_bytes = 0

    async def _leave_groups(self) -> None:
        try:
            while self._leaving:
                batch = list(itertools.islice(self._leaving, 500))
                for name in batch:
                    del self._leaving[name]
                # Unless a connection followed it again meanwhile.
                await self.link.leave_all([name for name in batch if name not in self.streams])
        finally:
            self._leaver = None

    def handle_message(self, message: dict[str, Any]) -> None:
        if message.get("type") == ACCESS_MESSAGE:
            self._access_changed(message)
            return
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
                committed_at = message.get("committed_at")
                if isinstance(committed_at, float):
                    if state.commits is None:
                        state.commits = [committed_at]
                    else:
                        state.commits.append(committed_at)
                state.delivered = event_id
                self._deliver(state, logged_frame(state.name, event))
            else:
                if state.catching_up is None:
                    self.metrics.gap_repairs.inc()  # ids were skipped: their wake-ups were lost
                self._catch_up(state)
        elif message.get("type") == CONTROL_MESSAGE:
            self._set_closed(state, bool(message["closed"]))

    def _follow_access(self, follow: bool) -> None:
        self._spawn(self.link.join_group(ACCESS_GROUP) if follow else self.link.leave_group(ACCESS_GROUP))

    def _access_changed(self, message: dict[str, Any]) -> None:
        if message.get("session"):
            self.guard.session_ended(str(message["session"]))
        if message.get("user") is not None:
            self._spawn(self.guard.user_changed(str(message["user"])))

    # Delivery

    def _fan_out(self, state: _StreamState, frame: Frame, *, urgent: bool = False) -> None:
        """Queue `frame` for every connection to the stream and wake them, or leave the wake-up to
        the flush already planned (see _flush); `urgent`: wake them now whatever the pace."""
        state.last_frame_at = now = time.monotonic()
        for subscription in state.subscribers:
            subscription.put(frame)
        if urgent:
            if state.flush is not None:
                state.flush.cancel()
            self._flush(state)
        elif state.flush is None:
            if now >= state.quiet_until:
                self._flush(state)
            else:
                state.flush = asyncio.get_running_loop().call_later(
                    state.quiet_until - now, self._flush, state
                )

    def _flush(self, state: _StreamState) -> None:
        """Wake every connection to the stream: each writes what queued up for it, in one write.

        Waking a connection costs far more than the frames it then writes (a task switch, the
        server's send and its system call: benchmarks/delivery_cost.py), so events that come
        faster than the stream's connections can be woken are written together: after a flush
        whose writes took d seconds, the next waits until PACE * d after they ended. A stream
        with a few connections flushes at once (d is microseconds); one with thousands leaves
        the event loop a share of its time for everything else however many events come, and
        each connection writes them in batches, as late by at most about (1 + PACE) * d. Order,
        ids and everything else a connection writes are unchanged.
        """
        state.flush = None
        for subscription in state.subscribers:
            subscription.wake()
        if state.commits:
            now = time.time()
            for committed_at in state.commits:
                self.metrics.lag.observe(max(0.0, now - committed_at))
            state.commits = None
        # Scheduled after the tasks just woken (set_result schedules them first), it runs once
        # every one of them has taken its turn, and twice more: a server that writes on the
        # socket's readiness (daphne: Twisted writes in the loop's next pass) has then written
        # too. It measures how long all of that took.
        asyncio.get_running_loop().call_soon(self._flushed, state, time.monotonic(), 2)

    @staticmethod
    def _flushed(state: _StreamState, woken_at: float, passes: int) -> None:
        if passes:
            asyncio.get_running_loop().call_soon(StreamHub._flushed, state, woken_at, passes - 1)
            return
        now = time.monotonic()
        state.quiet_until = now + (now - woken_at) * PACE

    def _deliver(self, state: _StreamState, frame: Frame) -> None:
        """Fan a logged event out, counted once per connection."""
        self._fan_out(state, frame)
        state.metrics.delivered.inc(len(state.subscribers))

    def _reset(self, state: _StreamState, current_id: int) -> None:
        self._fan_out(state, reset_frame(state.name, current_id))
        self.metrics.resets.inc(len(state.subscribers))

    def _set_closed(self, state: _StreamState, closed: bool) -> None:
        if closed and not state.closed:
            self._fan_out(state, closed_frame(state.name))
        state.closed = closed

    def _catch_up(self, state: _StreamState) -> None:
        if state.catching_up is None:
            state.catching_up = self._spawn(self._read_log_until_wanted(state))

    async def _read_log_until_wanted(self, state: _StreamState) -> None:
        try:
            while state.delivered < state.wanted:
                events = await run_in_db_thread(
                    read_events, state.name, state.delivered, self.batch, None, self.replays.max_bytes
                )
                if not events:
                    break
                for event in events:
                    if event.id != state.delivered + 1:
                        # A hole in the log: pruned while we were behind. Listeners must reload.
                        self._reset(state, event.id - 1)
                    self._deliver(state, logged_frame(state.name, event))
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
        self.replays.clear()
        self._record_bytes()
        for state in list(self.streams.values()):
            if not state.subscribers:
                self._forget(state)
        states = [s for s in self.streams.values() if s.ready is not None and s.ready.done()]
        if not states:
            return
        now = time.monotonic()
        if self.renew_interval is not None:
            await self._renew(states, now, self.renew_interval)
        # What each stream had before the read: wake-ups may deliver newer events (or close it)
        # while the read is under way, and the head must only be compared with what it could see.
        before = {state: (state.delivered, state.closed) for state in states}
        heads = await run_in_db_thread(read_heads, [s.name for s in states])
        behind = []
        for state in states:
            head = heads.get(state.name, StreamHead(0, False))
            delivered_before, closed_before = before[state]
            if head.last_id < delivered_before:
                # The log went backwards (a reset database): everyone starts again from its head.
                self._reset(state, head.last_id)
                state.delivered = state.wanted = head.last_id
            elif head.last_id > state.delivered:
                state.wanted = max(state.wanted, head.last_id)
                behind.append(state)
            if state.closed == closed_before:
                self._set_closed(state, head.closed)
        if behind:
            # Wake-ups went missing: the layer may have lost these groups (an expiry, a restarted
            # Redis). Join again first, so that what commits after the catch-up's reads is heard.
            await self.link.join_many(state.name for state in behind)
            for state in behind:
                state.joined_at = now
            if self.guard:  # the layer that lost these groups may have lost that one too
                self._access_joined_at = 0.0
            for state in behind:
                if state.catching_up is None:
                    self.metrics.tick_catch_ups.inc()
                self._catch_up(state)
        now = time.monotonic()
        for state in states:
            if now - state.last_frame_at + self.tick_interval / 2 >= self.heartbeat:
                self._fan_out(state, KEEPALIVE_FRAME)
        if self.prune_interval and self.retention_days and now >= self._next_prune:
            self._next_prune = now + self.prune_interval
            deleted = await run_in_db_thread(prune_events, self.retention_days)
            if deleted:
                logger.info("Pruned %d events older than %g days.", deleted, self.retention_days)

    async def _renew(
        self, states: list[_StreamState], now: float, interval: float, share: int | None = None
    ) -> None:
        """Renew each membership once per `interval`, the oldest first, a share of them per tick:
        re-joining is idempotent, and thousands of streams make no burst of thousands of joins
        in one tick. A membership is at most about two intervals old, well within the expiry."""
        due = [state for state in states if now - state.joined_at >= interval]
        if due:
            if share is None:
                share = max(100, math.ceil(len(states) * self.tick_interval / interval))
            due.sort(key=lambda state: state.joined_at)
            due = due[:share]
            await self.link.join_many(state.name for state in due)
            for state in due:
                state.joined_at = now
        if (
            self.guard
            and now - self._access_joined_at >= interval
            and await self.link.join_group(ACCESS_GROUP)
        ):
            self._access_joined_at = now

    def drain(self) -> None:
        """End every connection with a short retry, so browsers reconnect at once (to another
        process, behind a balancer) and replay from the log; new ones get 503 from now on."""
        self.draining = True
        for state in self.streams.values():
            # Now, not at the stream's pace: the server gives the responses SHUTDOWN_DRAIN to end.
            self._fan_out(state, DRAIN_FRAME, urgent=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        # A fresh context: hub tasks must not inherit (and outlive) the request that started them.
        task = asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        """Stop every task and leave every group (tests and shutdown)."""
        names = [*self.streams, *self._leaving]
        self._leaving.clear()
        following: dict[Subscription, set[StreamMetrics]] = {}
        for state in self.streams.values():
            for subscription in state.subscribers:
                following.setdefault(subscription, set()).add(state.metrics)
        for labels in following.values():
            for metrics in labels:
                metrics.connections.dec()
        for state in self.streams.values():
            if state.flush is not None:
                state.flush.cancel()
        self.streams.clear()
        self._stop()
        await self.link.leave_group(ACCESS_GROUP)
        for task in list(self._tasks):
            task.cancel()
        await self.link.leave_all(names)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StreamHub] = weakref.WeakKeyDictionary()


def get_hub() -> StreamHub:
    """The hub of the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = StreamHub()
    return hub
