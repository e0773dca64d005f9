"""Wake-ups: the messages that tell every process's hub, through the channel layer, that a stream
moved or that access changed. Sent once the transaction commits, in the background and in order,
so that a slow or hung layer never holds up the code that published; at most once, as the layer
is: hubs never rely on them alone (the log check catches up on what they lose).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import logging
import threading
import time
import weakref
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from liveevents.conf import get_config

logger = logging.getLogger(__name__)

# Channel-layer message types; the hub tells them apart by "type".
EVENT_MESSAGE = "liveevents.event"
CONTROL_MESSAGE = "liveevents.control"
ACCESS_MESSAGE = "liveevents.access"
# The group of every hub that serves non-public streams: access changes reach it at once.
ACCESS_GROUP = "liveevents-access"


def group_name(stream: str) -> str:
    """The channel-layer group that carries wake-ups for `stream`."""
    return f"liveevents.{stream}"


class _WakeUp:
    """The on-commit callback that wakes listeners of one stream: one per stream per transaction
    (per savepoint level), carrying its latest event. Hubs read any ids it skips from the log,
    so a burst of events costs one layer message, not one each."""

    def __init__(self, stream: str, message: dict[str, Any]) -> None:
        self.stream = stream
        self.message = message

    def __call__(self) -> None:
        wake_listeners(self.stream, self.message)


class _PendingWakeUps:
    """The wake-ups a connection's open transaction holds, by stream and savepoint level, so that
    publishing the thousandth event of a transaction does not scan the other 999 callbacks.
    It is only valid for the list of on-commit callbacks it was built on: Django replaces that
    list when the transaction ends or a savepoint rolls back."""

    __slots__ = ("callbacks", "wake_ups")

    def __init__(self, callbacks: list[Any]) -> None:
        self.callbacks = callbacks
        self.wake_ups: dict[tuple[str, frozenset[str]], _WakeUp] = {}
        for savepoints, callback, *_ in callbacks:
            if isinstance(callback, _WakeUp):
                self.wake_ups[(callback.stream, frozenset(savepoints))] = callback


_pending: weakref.WeakKeyDictionary[Any, _PendingWakeUps] = weakref.WeakKeyDictionary()


def wake_on_commit(stream: str, message: dict[str, Any], using: str | None) -> None:
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        transaction.on_commit(_WakeUp(stream, message), using=using)
        return
    pending = _pending.get(connection)
    if pending is None or pending.callbacks is not connection.run_on_commit:
        pending = _pending[connection] = _PendingWakeUps(connection.run_on_commit)
    # Only a callback of the same savepoint level: it commits or rolls back with this event.
    key = (stream, frozenset(connection.savepoint_ids))
    wake_up = pending.wake_ups.get(key)
    if wake_up is not None:
        wake_up.message = message
        return
    wake_up = pending.wake_ups[key] = _WakeUp(stream, message)
    transaction.on_commit(wake_up, using=using)


def wake_listeners(stream: str, message: dict[str, Any]) -> None:
    """Tell every hub listening to `stream` through the channel layer, at most once.

    An event's message is stamped `committed_at` (time.time()): called once the transaction
    commits, this is its commit time, from which hubs measure how long delivery took.
    A failure here loses nothing: hubs catch up from the log on their next tick.
    """
    if message.get("type") == EVENT_MESSAGE:
        message = {**message, "committed_at": time.time()}
    _group_send(
        group_name(stream),
        message,
        f"Could not wake listeners of stream {stream!r} through the channel layer; "
        "they will catch up from the log.",
    )


def announce_access_change(*, session_key: str | None = None, user_pk: object = None) -> None:
    """Tell every hub that a session ended (its non-public streams end now) or that a user changed
    (its readers' decisions are taken again now), once the current transaction commits.

    A failure here only delays it: hubs re-check every reader each REVALIDATE_INTERVAL.
    """
    message: dict[str, Any] = {"type": ACCESS_MESSAGE, "session": session_key}
    message["user"] = None if user_pk is None else str(user_pk)

    def send() -> None:
        _group_send(
            ACCESS_GROUP,
            message,
            "Could not announce an access change through the channel layer; open streams are "
            "re-checked within REVALIDATE_INTERVAL.",
        )

    transaction.on_commit(send)


def _group_send(group: str, message: dict[str, Any], failure: str) -> None:
    """Send `message` to `group` on the layer, at most once, without waiting for it; log `failure`
    if that fails."""
    layer = get_channel_layer(get_config()["CHANNEL_LAYER"])
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        # In this process's memory, on the event loop of its hubs (which async_to_sync finds):
        # it cannot hang.
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:
            logger.warning(failure, exc_info=True)
        return
    _sender.submit(layer, group, message, failure)


# How long one message may take before it is given up (the log check delivers it anyway), and
# how many may wait behind a layer that hangs before the oldest are dropped.
WAKE_UP_TIMEOUT = 5.0
MAX_WAITING = 10_000


class _Sender:
    """One event loop per process, in a thread of its own, that sends the wake-ups of code that
    published from sync code, one after the other: in the order they were handed over, keeping the
    cross-process layer's connection pool, and never blocking the caller (a save returns at once
    even while Redis hangs)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._waiting: collections.deque[tuple[BaseChannelLayer, str, dict[str, Any], str]] = (
            collections.deque()
        )
        self._draining: asyncio.Task[None] | None = None
        self.dropped = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="liveevents-wake", daemon=True).start()
                self._loop = loop
                # A command or script that published and exits at once still wakes listeners.
                atexit.register(self._flush_at_exit)
            return self._loop

    def submit(self, layer: BaseChannelLayer, group: str, message: dict[str, Any], failure: str) -> None:
        self.loop().call_soon_threadsafe(self._enqueue, (layer, group, message, failure))

    def _enqueue(self, item: tuple[BaseChannelLayer, str, dict[str, Any], str]) -> None:
        if len(self._waiting) >= MAX_WAITING:
            self._waiting.popleft()
            self.dropped += 1
            if self.dropped % MAX_WAITING == 1:
                logger.warning(
                    "The channel layer is not taking wake-ups: dropped %d so far; listeners catch "
                    "up from the log at each check.",
                    self.dropped,
                )
        self._waiting.append(item)
        if self._draining is None:
            self._draining = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._waiting:
                layer, group, message, failure = self._waiting.popleft()
                try:
                    await asyncio.wait_for(layer.group_send(group, message), WAKE_UP_TIMEOUT)
                except Exception:
                    logger.warning(failure, exc_info=True)
        finally:
            self._draining = None

    def _flush_at_exit(self) -> None:
        try:
            self.flush()
        except Exception:  # a layer that hangs: listeners catch up from the log
            logger.warning("Some wake-ups were not sent before exit; listeners catch up from the log.")

    def flush(self, timeout: float = WAKE_UP_TIMEOUT) -> None:
        """Wait until every wake-up handed over so far has been sent or given up (tests, and
        short-lived commands that exit right after publishing)."""
        if self._loop is None:
            return

        async def sent() -> None:
            while self._draining is not None or self._waiting:
                await asyncio.sleep(0.005)

        asyncio.run_coroutine_threadsafe(sent(), self._loop).result(timeout)


_sender = _Sender()


def flush_wake_ups(timeout: float = WAKE_UP_TIMEOUT) -> None:
    """Wait until the wake-ups this process handed to a cross-process layer are sent (or given up):
    call it before a short-lived process that published exits, or its last wake-ups may be lost
    with it (listeners still get the events at their next log check)."""
    _sender.flush(timeout)
