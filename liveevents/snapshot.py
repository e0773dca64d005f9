"""A page's state read together with the stream position it matches: the position first, then the state.

A client that resumes after the position it was given misses nothing only if the state it shows
is at least as new as that position: an event committed after the position was read is then
replayed (and, when the state already holds its change, applied twice, which an upsert ignores).
The other order loses it for good: a state read first, then an event committed, then the position
read past that event, and the page never shows the change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from django.db import connections, router, transaction
from django.db.models import QuerySet
from django.urls import reverse

from liveevents.conf import get_config
from liveevents.cursor import format_cursor
from liveevents.models import Stream
from liveevents.streams import require_declared

T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """What snapshot() read: `state`, and the position in each stream that `state` is at least as
    new as. In a template: `{{ live.url }}`, `{{ live.last_event_id }}`, `{{ live.connect_url }}`,
    `{% for order in live.state %}`."""

    state: T
    # Stream name -> id of its latest event when it was read (0 before the first), in order.
    positions: Mapping[str, int]
    # True: the streams are followed over one connection (/events/?stream=...), and ids are cursors.
    multiplexed: bool

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self.positions)

    @property
    def last_event_id(self) -> str:
        """Where the client resumes: the stream's id (`"12"`) for one stream, else the cursor of
        every stream (`"orders:12,notices:3"`), as the `id:` lines of its endpoint are."""
        if not self.multiplexed:
            [position] = self.positions.values()
            return str(position)
        first = next(iter(self.positions))
        return format_cursor(self.positions, first, self.positions)

    @property
    def url(self) -> str:
        """The endpoint to follow the streams at: `/events/orders/`, or `/events/?stream=...`."""
        if not self.multiplexed:
            [name] = self.positions
            return reverse("liveevents:stream", args=[name])
        return reverse("liveevents:streams") + "?" + urlencode([("stream", name) for name in self.positions])

    @property
    def connect_url(self) -> str:
        """`url` with `lastEventId=`: for a client that takes one URL, as htmx's sse-connect does."""
        separator = "&" if self.multiplexed else "?"
        return self.url + separator + urlencode({"lastEventId": self.last_event_id})


def snapshot(streams: str | Iterable[str], read: Callable[[], T], *, using: str | None = None) -> Snapshot[T]:
    """Read the position of `streams`, then call `read()` for the state, and return both.

    `streams` is one stream's name (a plain id, its own URL) or a list of names, even of one,
    followed over one connection (a cursor, /events/?stream=...); each must be declared
    (UnknownStream otherwise), and a list holds at most MAX_STREAMS_PER_CONNECTION (ValueError
    otherwise). A QuerySet that `read()` returns, or holds as a value of a dict it returns, is
    evaluated here; a query built from it later (`.filter()`) reads the database anew. `using` is
    the database of the event log; read the state from the same one.
    """
    names = [streams] if isinstance(streams, str) else list(dict.fromkeys(streams))
    limit = get_config()["MAX_STREAMS_PER_CONNECTION"]
    if not names or len(names) > limit:
        # The endpoint would answer its URL with 400.
        raise ValueError(
            f"snapshot() takes one stream or more, at most {limit} "
            f"(LIVEEVENTS['MAX_STREAMS_PER_CONNECTION']); got {len(names)}."
        )
    for name in names:
        require_declared(name, "snapshot()")
    alias = using or router.db_for_read(Stream)
    with _one_read(alias):
        heads = dict(Stream.objects.using(alias).filter(name__in=names).values_list("name", "last_id"))
        state = read()
        _evaluate(state)
    positions = MappingProxyType({name: heads.get(name, 0) for name in names})
    return Snapshot(state, positions, multiplexed=not isinstance(streams, str))


def _one_read(alias: str) -> AbstractContextManager[Any]:
    # The state is at least as new as the position because it is read after it: under READ
    # COMMITTED (PostgreSQL's default) each statement sees what committed before it began, and the
    # state's statements begin after the position's, whether in one transaction or not. One
    # transaction makes the two reads agree exactly where a transaction reads one snapshot
    # (PostgreSQL's REPEATABLE READ and SERIALIZABLE, MySQL's default, SQLite), so fewer events
    # are replayed onto a state that holds them already; it never makes the state older.
    # SQLite outside a transaction is the exception: Django begins its transactions there in the
    # mode the settings give, and with IMMEDIATE (what liveevents recommends) that takes the
    # database's write lock, which a page read must not hold. Two reads in autocommit, in this
    # order, keep the guarantee: each starts from what committed before it.
    connection = connections[alias]
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        return nullcontext()
    return transaction.atomic(using=alias)


def _evaluate(state: object) -> None:
    # len() fills a QuerySet's result cache: iterating it later (a template, a serializer) reads
    # the rows fetched here, not newer ones.
    values = state.values() if isinstance(state, dict) else [state]
    for value in values:
        if isinstance(value, QuerySet):
            len(value)
