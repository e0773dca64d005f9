"""publish(): check an event, append it to the log in the caller's transaction, wake hubs on commit.

Every check runs before anything is written, and says what to fix: a bad event raises ValueError
(or TypeError for a value of the wrong type) and writes nothing, the same on every database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.transaction import TransactionManagementError

from liveevents.conf import get_config
from liveevents.models import Event, Stream
from liveevents.signals import event_published
from liveevents.sse import check_field_value
from liveevents.wakeup import CONTROL_MESSAGE, EVENT_MESSAGE, wake_listeners, wake_on_commit

STREAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}")
# The log's column for event names (Event.event).
MAX_EVENT_NAME = Event._meta.get_field("event").max_length or 200


def check_stream_name(name: str) -> str:
    """Return `name` if it can name a stream (a URL path segment and a channel-layer group), else
    raise ValueError (TypeError for a name that is not a str)."""
    if not isinstance(name, str):
        raise TypeError(f"A stream name must be a str, not {type(name).__name__}: {name!r}.")
    if not STREAM_NAME.fullmatch(name):
        raise ValueError(f"Invalid stream name {name!r}: use 1 to 80 ASCII letters, digits, '_', '-' or '.'.")
    if not name.strip("."):
        raise ValueError(f"Invalid stream name {name!r}: no URL can reach a name of dots only.")
    return name


def check_event_name(event: str) -> str:
    """Return `event` if it can be an event's name, else raise ValueError or TypeError."""
    if not isinstance(event, str):
        raise TypeError(f"An event name must be a str, not {type(event).__name__}: {event!r}.")
    check_field_value("event name", event)
    _check_unicode("The event name", event)
    if len(event) > MAX_EVENT_NAME:
        raise ValueError(
            f"The event name {event[:40]!r}... is {len(event)} characters long; the log holds at most "
            f"{MAX_EVENT_NAME}."
        )
    return event


def encode_data(data: object) -> str:
    """Event data as stored in the log: strings as they are, anything else as compact JSON. Raises
    ValueError for what no client could read or no database store, TypeError for what JSON cannot
    encode, and ValueError beyond MAX_EVENT_BYTES."""
    if isinstance(data, str):
        text = data
        if "\x00" in text:
            raise ValueError(
                f"Event data cannot contain NUL (U+0000), at position {text.index(chr(0))}: "
                "PostgreSQL cannot store it and browsers drop it; remove it or send the data as JSON."
            )
    else:
        try:
            text = json.dumps(
                data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            )
        except ValueError as error:
            raise ValueError(
                f"Event data is not valid JSON: {error} (NaN and Infinity are not JSON numbers; "
                "send None or a string instead)."
            ) from None
    _check_unicode("Event data", text)
    limit = get_config()["MAX_EVENT_BYTES"]
    size = len(text.encode("utf-8"))
    if size > limit:
        raise ValueError(
            f"Event data is {size:,} bytes once encoded; at most {limit:,} are allowed "
            "(LIVEEVENTS['MAX_EVENT_BYTES']). Send less, e.g. an id the client fetches the rest by."
        )
    return text


def _check_unicode(what: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} contains a lone surrogate ({text[error.start]!r}) at position {error.start}: "
            "only valid Unicode can be stored and sent; decode the text that produced it properly."
        ) from None


def publish(stream: str, event: str, data: object = "", *, using: str | None = None) -> Event:
    """Append an event to `stream`'s log in the current transaction and return it.

    Listeners hear of it only once the transaction commits; a rollback publishes nothing.
    """
    check_stream_name(stream)
    check_event_name(event)
    text = encode_data(data)
    with transaction.atomic(using=using):
        counter, _ = Stream.objects.using(using).select_for_update().get_or_create(name=stream)
        counter.last_id += 1
        counter.save(update_fields=["last_id"])
        logged = Event.objects.using(using).create(
            stream=counter, sequence=counter.last_id, event=event, data=text
        )
    wake_on_commit(stream, _event_message(logged, stream), using)
    event_published.send(sender=Event, event=logged, using=using)
    return logged


def publish_many(events: Iterable[tuple[str, str, object]], *, using: str | None = None) -> list[Event]:
    """Append several events, each a (stream, event, data) triple, in the current transaction and
    return them, in the order given: what publish() does for each, with a few queries per batch
    of streams rather than three per event, and one wake-up per stream.

    Every event is checked before anything is written: a bad one raises and writes nothing.
    """
    checked = [
        (check_stream_name(stream), check_event_name(event), encode_data(data))
        for stream, event, data in events
    ]
    if not checked:
        return []
    logged: list[Event] = []
    with transaction.atomic(using=using):
        counters = lock_streams({stream for stream, _, _ in checked}, using=using)
        for stream, event, text in checked:
            counter = counters[stream]
            counter.last_id += 1
            logged.append(Event(stream=counter, sequence=counter.last_id, event=event, data=text))
        batch = _parameter_batch(using)
        Stream.objects.using(using).bulk_update(list(counters.values()), ["last_id"], batch_size=batch)
        Event.objects.using(using).bulk_create(logged, batch_size=batch)
    latest = {row.stream_id: row for row in logged}
    for stream, row in latest.items():
        wake_on_commit(stream, _event_message(row, stream), using)
    for row in logged:
        event_published.send(sender=Event, event=row, using=using)
    return logged


def lock_streams(streams: Iterable[str], *, using: str | None = None) -> dict[str, Stream]:
    """Lock the counters of `streams` until the current transaction ends, as publishing on them
    does, and return them by name (created at 0 if need be). Call it inside transaction.atomic().

    What the transaction reads afterwards is at least as new as every event already published on
    those streams: a transaction that published on one of them has committed, and one that is
    about to waits for this one. A serializer that reads more than its instance (a template that
    renders a whole table) calls it first, so that its event never carries an older state than an
    event before it. Bindings call serializers in the transaction that publishes their events.
    """
    names = sorted(set(streams))
    if not transaction.get_connection(using).in_atomic_block:
        raise TransactionManagementError(
            "lock_streams() holds its locks until the transaction ends: call it inside transaction.atomic()."
        )
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
    return counters


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


def set_stream_closed(stream: str, closed: bool, *, using: str | None = None) -> None:
    """Close or reopen `stream`. Closing ends every open connection with `closedConnection`."""
    check_stream_name(stream)
    with transaction.atomic(using=using):
        counter, _ = Stream.objects.using(using).select_for_update().get_or_create(name=stream)
        counter.closed = closed
        counter.save(update_fields=["closed"])
    message = {"type": CONTROL_MESSAGE, "stream": stream, "closed": closed}
    transaction.on_commit(lambda: wake_listeners(stream, message), using=using)
