"""Reading the event log from async code, in a few shared threads (never a request's thread)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar

from django.db import close_old_connections

from liveevents.models import Event, Stream

T = TypeVar("T")

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


def _with_fresh_connection(function: Callable[..., T], *args: Any) -> T:
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


async def run_in_db_thread(function: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_db_executor, _with_fresh_connection, function, *args)


def read_heads(names: Iterable[str]) -> dict[str, StreamHead]:
    """Last id and closed state of each named stream; absent streams have not published yet."""
    rows = Stream.objects.filter(name__in=list(names)).values_list("name", "last_id", "closed")
    return {name: StreamHead(last_id, closed) for name, last_id, closed in rows}


def read_events(stream: str, after: int, limit: int, upto: int | None = None) -> list[LoggedEvent]:
    """Up to `limit` logged events of `stream` with ids above `after` (and at most `upto`)."""
    rows = Event.objects.filter(stream_id=stream, sequence__gt=after)
    if upto is not None:
        rows = rows.filter(sequence__lte=upto)
    values = rows.order_by("sequence").values_list("sequence", "event", "data")[:limit]
    return [LoggedEvent(*row) for row in values]
