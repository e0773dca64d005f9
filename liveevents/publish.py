"""publish(): append an event to the log in the caller's transaction, wake hubs on commit."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
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
    message = {
        "type": EVENT_MESSAGE,
        "stream": stream,
        "id": logged.sequence,
        "event": event,
        "data": text,
    }
    _wake_on_commit(stream, message, using)
    event_published.send(sender=Event, event=logged, using=using)
    return logged


class _WakeUp:
    """The on-commit callback that wakes listeners of one stream: one per stream per transaction
    (per savepoint level), carrying its latest event. Hubs read any ids it skips from the log,
    so a burst of events costs one layer message, not one each."""

    def __init__(self, stream: str, message: dict[str, Any]) -> None:
        self.stream = stream
        self.message = message

    def __call__(self) -> None:
        wake_listeners(self.stream, self.message)


def _wake_on_commit(stream: str, message: dict[str, Any], using: str | None) -> None:
    connection = transaction.get_connection(using)
    if connection.in_atomic_block:
        level = set(connection.savepoint_ids)
        for savepoints, callback, _robust in connection.run_on_commit:
            # Only a callback of the same savepoint level: it commits or rolls back with this event.
            if isinstance(callback, _WakeUp) and callback.stream == stream and savepoints == level:
                callback.message = message
                return
    transaction.on_commit(_WakeUp(stream, message), using=using)


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
    layer = get_channel_layer(get_config()["CHANNEL_LAYER"])
    if layer is None:
        return
    try:
        if isinstance(layer, InMemoryChannelLayer):
            # Must run on the event loop of this process's hubs, which async_to_sync finds.
            async_to_sync(layer.group_send)(group_name(stream), message)
        else:
            sending = asyncio.run_coroutine_threadsafe(
                layer.group_send(group_name(stream), message), _sender_loop()
            )
            sending.result(timeout=WAKE_UP_TIMEOUT)
    except Exception:
        logger.warning(
            "Could not wake listeners of stream %r through the channel layer; "
            "they will catch up from the log.",
            stream,
            exc_info=True,
        )


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
