"""Reading the event log from async code, in a few shared threads (never a request's thread)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, TypeVar, TypeVarTuple

from django.db import connections

from liveevents.models import Event, Stream

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Log reads run here, never in a request's thread: a few threads and connections serve
# every stream of the process, however many connections are open.
_db_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="liveevents-db")


class LoggedEvent(NamedTuple):
    id: int
    event: str
    data: str


class StreamHead(NamedTuple):
    last_id: int
    closed: bool


def _with_usable_connection(function: Callable[[*Ts], T], *args: *Ts) -> T:
    # These threads keep their connections between reads (a new PostgreSQL connection per read
    # costs ten times the read), and drop one only after it failed, e.g. when the server restarted.
    for connection in connections.all(initialized_only=True):
        if connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()
    return function(*args)


async def run_in_db_thread(function: Callable[[*Ts], T], *args: *Ts) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_db_executor, _with_usable_connection, function, *args)


def read_heads(names: Iterable[str]) -> dict[str, StreamHead]:
    """Last id and closed state of each named stream; absent streams have not published yet.

    One query for all of them, or one per batch where the database caps a query's parameters.
    """
    wanted = list(names)
    connection = connections[Stream.objects.db]
    if connection.vendor == "postgresql" and len(wanted) > 100:
        # One array parameter: for thousands of streams (a family's) a query of thousands of
        # placeholders costs Django and the server four to five times as much.
        table = connection.ops.quote_name(Stream._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT name, last_id, closed FROM {table} WHERE name = ANY(%s)", [wanted])
            return {name: StreamHead(last_id, closed) for name, last_id, closed in cursor.fetchall()}
    limit = connection.features.max_query_params
    # A few parameters spare under the cap; no cap (PostgreSQL): every name in one query.
    batch = max(1, limit - 10) if limit else max(1, len(wanted))
    heads: dict[str, StreamHead] = {}
    for start in range(0, len(wanted), batch):
        rows = Stream.objects.filter(name__in=wanted[start : start + batch]).values_list(
            "name", "last_id", "closed"
        )
        heads.update((name, StreamHead(last_id, closed)) for name, last_id, closed in rows)
    return heads


def read_head_then_events(
    stream: str, after: int, limit: int, max_bytes: int | None = None
) -> tuple[int, list[LoggedEvent]]:
    """The stream's last id, then up to `limit` events after `after`: in that order, so every
    id up to the head is visible to the second read."""
    head = Stream.current_id(stream)
    return head, read_events(stream, after, limit, max_bytes=max_bytes)


def read_events(
    stream: str, after: int, limit: int, upto: int | None = None, max_bytes: int | None = None
) -> list[LoggedEvent]:
    """Up to `limit` logged events of `stream` with ids above `after` (and at most `upto`), in
    order; with `max_bytes`, no more events than fit in that much data (at least one)."""
    rows = Event.objects.filter(stream_id=stream, sequence__gt=after)
    if upto is not None:
        rows = rows.filter(sequence__lte=upto)
    values = rows.order_by("sequence").values_list("sequence", "event", "data")[:limit]
    if max_bytes is None:
        return [LoggedEvent(*row) for row in values]
    # Rows arrive a few at a time, so a batch of large events stops at the budget without the
    # rest of them ever being read into memory.
    events: list[LoggedEvent] = []
    size = 0
    for row in values.iterator(chunk_size=min(limit, 50)):
        events.append(LoggedEvent(*row))
        size += len(row[2]) + len(row[1])
        if size >= max_bytes:
            break
    return events
