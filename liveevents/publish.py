"""publish(): append an event to the log in the caller's transaction, wake hubs on commit."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from liveevents.conf import get_config
from liveevents.models import Event, Stream
from liveevents.signals import event_published
from liveevents.sse import check_field_value

logger = logging.getLogger(__name__)

STREAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}")

# Channel-layer message types; the hub handles them as liveevents_event / liveevents_control.
EVENT_MESSAGE = "liveevents.event"
CONTROL_MESSAGE = "liveevents.control"
ACCESS_MESSAGE = "liveevents.access"
# The group of every hub that serves non-public streams: access changes reach it at once.
ACCESS_GROUP = "liveevents-access"


def check_stream_name(name: str) -> str:
    """Return `name` if it can name a stream (and a channel-layer group), else raise ValueError."""
    if not isinstance(name, str) or not STREAM_NAME.fullmatch(name):
        raise ValueError(f"Invalid stream name {name!r}: use 1 to 80 ASCII letters, digits, '_', '-' or '.'.")
    return name


def group_name(stream: str) -> str:
    """The channel-layer group that carries wake-ups for `stream`."""
    return f"liveevents.{stream}"


def encode_data(data: object) -> str:
    """Event data as stored in the log: strings as they are, anything else as compact JSON."""
    if isinstance(data, str):
        return data
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def publish(stream: str, event: str, data: object = "", *, using: str | None = None) -> Event:
    """Append an event to `stream`'s log in the current transaction and return it.

    Listeners hear of it only once the transaction commits; a rollback publishes nothing.
    """
    check_stream_name(stream)
    check_field_value("event name", event)
    text = encode_data(data)
    with transaction.atomic(using=using):
        counter, _ = Stream.objects.using(using).select_for_update().get_or_create(name=stream)
        counter.last_id += 1
        counter.save(update_fields=["last_id"])
        logged = Event.objects.using(using).create(
            stream=counter, sequence=counter.last_id, event=event, data=text
        )
    _wake_on_commit(stream, _event_message(logged, stream), using)
    event_published.send(sender=Event, event=logged, using=using)
    return logged


def publish_many(events: Iterable[tuple[str, str, object]], *, using: str | None = None) -> list[Event]:
    """Append several events, each a (stream, event, data) triple, in the current transaction and
    return them, in the order given: what publish() does for each, with a few queries per batch
    of streams rather than three per event, and one wake-up per stream.

    Every event is checked before anything is written: a bad one raises and writes nothing.
    """
    checked = [
        (check_stream_name(stream), check_field_value("event name", event), encode_data(data))
        for stream, event, data in events
    ]
    if not checked:
        return []
    names = sorted({stream for stream, _, _ in checked})
    logged: list[Event] = []
    with transaction.atomic(using=using):
        manager = Stream.objects.using(using)
        batch = _parameter_batch(using)
        counters: dict[str, Stream] = {}
        for start in range(0, len(names), batch):
            chunk = names[start : start + batch]
            manager.bulk_create([Stream(name=name) for name in chunk], ignore_conflicts=True)
            # Locked in name order, as every batch is: two bulk publishers cannot deadlock.
            counters.update(
                (counter.name, counter)
                for counter in manager.select_for_update().filter(name__in=chunk).order_by("name")
            )
        for stream, event, text in checked:
            counter = counters[stream]
            counter.last_id += 1
            logged.append(Event(stream=counter, sequence=counter.last_id, event=event, data=text))
        manager.bulk_update(list(counters.values()), ["last_id"], batch_size=batch)
        Event.objects.using(using).bulk_create(logged, batch_size=batch)
    latest = {row.stream_id: row for row in logged}
    for stream, row in latest.items():
        _wake_on_commit(stream, _event_message(row, stream), using)
    for row in logged:
        event_published.send(sender=Event, event=row, using=using)
    return logged


def _parameter_batch(using: str | None) -> int:
    # SQLite caps the parameters of one query (999 in older builds): stay well under it everywhere.
    limit = transaction.get_connection(using).features.max_query_params
    return max(1, min(500, (limit or 1000) // 4))


def _event_message(logged: Event, stream: str) -> dict[str, Any]:
    return {
        "type": EVENT_MESSAGE,
        "stream": stream,
        "id": logged.sequence,
        "event": logged.event,
        "data": logged.data,
    }


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


def _wake_on_commit(stream: str, message: dict[str, Any], using: str | None) -> None:
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


def set_stream_closed(stream: str, closed: bool, *, using: str | None = None) -> None:
    """Close or reopen `stream`. Closing ends every open connection with `closedConnection`."""
    check_stream_name(stream)
    with transaction.atomic(using=using):
        counter, _ = Stream.objects.using(using).select_for_update().get_or_create(name=stream)
        counter.closed = closed
        counter.save(update_fields=["closed"])
    message = {"type": CONTROL_MESSAGE, "stream": stream, "closed": closed}
    transaction.on_commit(lambda: wake_listeners(stream, message), using=using)


def wake_listeners(stream: str, message: dict[str, Any]) -> None:
    """Tell every hub listening to `stream` through the channel layer, at most once.

    A failure here loses nothing: hubs catch up from the log on their next tick.
    """
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
    """Send `message` to `group` on the layer, at most once; log `failure` if that failed."""
    layer = get_channel_layer(get_config()["CHANNEL_LAYER"])
    if layer is None:
        return
    try:
        if isinstance(layer, InMemoryChannelLayer):
            # Must run on the event loop of this process's hubs, which async_to_sync finds.
            async_to_sync(layer.group_send)(group, message)
        else:
            sending = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _sender_loop())
            sending.result(timeout=WAKE_UP_TIMEOUT)
    except Exception:
        logger.warning(failure, exc_info=True)


WAKE_UP_TIMEOUT = 5.0
_sender: asyncio.AbstractEventLoop | None = None
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    """One long-lived event loop per process for wake-ups sent from sync code, so a cross-process
    layer keeps its connection pool instead of opening a connection per event."""
    global _sender
    with _sender_lock:
        if _sender is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="liveevents-wake", daemon=True).start()
            _sender = loop
        return _sender
