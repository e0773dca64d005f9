"""The hub's own repairs: gaps in wake-ups, pruned holes, and a close racing a tick's head read."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test.utils import CaptureQueriesContext

from liveevents import hub as hub_module
from liveevents import log
from liveevents.hub import StreamHub
from liveevents.log import StreamHead, read_heads
from liveevents.models import Event, Stream
from liveevents.publish import publish, publish_many, set_stream_closed
from liveevents.testing import StreamResponse
from liveevents.wakeup import CONTROL_MESSAGE, group_name
from tests.conftest import restart_hub
from tests.liveevents.asgi_client import open_stream, stream_response

pytestmark = pytest.mark.timeout(30)

URL = "/events/bulletins/"


def publish_silently(count: int) -> None:
    """Events another process committed whose wake-ups never reached this one."""
    with mock.patch("liveevents.wakeup.wake_listeners"):
        for n in range(count):
            publish("bulletins", "tick", {"n": n})


def prune(*ids: int) -> None:
    Event.objects.filter(stream_id="bulletins", sequence__in=ids).delete()


@pytest.fixture
async def quiet_hub(hub: StreamHub, settings: Any) -> StreamHub:
    """A hub whose tick runs only when a test calls it."""
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 60, "HEARTBEAT": 120}
    return await restart_hub(hub)


async def opened(count: int) -> list[StreamResponse]:
    responses = [await open_stream(URL) for _ in range(count)]
    for response in responses:
        await response.read_until(lambda r: r.parser.retry is not None)
    return responses


def counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every read of logged events, by the hub or by a connection: (after, limit)."""
    reads: list[tuple[int, int]] = []
    real = log.read_events

    def read_events(
        stream: str, after: int, limit: int, upto: int | None = None, max_bytes: int | None = None
    ) -> Any:
        reads.append((after, limit))
        return real(stream, after, limit, upto, max_bytes)

    for module in ("liveevents.hub", "liveevents.delivery"):
        monkeypatch.setattr(f"{module}.read_events", read_events)
    return reads


async def test_a_gap_in_wake_ups_costs_one_log_read_per_process(
    quiet_hub: StreamHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses = await opened(5)
    reads = counting_reads(monkeypatch)
    await sync_to_async(publish_silently)(2)  # ids 1, 2: wake-ups lost
    await sync_to_async(publish)("bulletins", "tick", {"n": 2})  # id 3 arrives: the hub reads 1, 2
    for response in responses:
        await response.read_events(3, timeout=3)
        assert response.ids == [1, 2, 3]
    assert len(reads) == 1  # the hub's, not one per connection
    for response in responses:
        await response.disconnect()


async def test_a_gap_over_pruned_events_resets_every_listener(quiet_hub: StreamHub) -> None:
    responses = await opened(2)
    await sync_to_async(publish_silently)(2)
    await sync_to_async(prune)(1, 2)  # gone before anyone here read them
    await sync_to_async(publish)("bulletins", "tick", {"n": 2})
    for response in responses:
        await response.read_events(2, timeout=3)
        reset, event = response.events
        assert (reset.event, json.loads(reset.data), reset.last_event_id) == (
            "streamReset",
            {"stream": "bulletins", "lastEventId": 2},
            "2",
        )
        assert (event.event, event.last_event_id) == ("tick", "3")
        await response.disconnect()


async def test_a_tick_catching_up_over_pruned_events_sends_a_reset(quiet_hub: StreamHub) -> None:
    [response] = await opened(1)
    await sync_to_async(publish_silently)(3)  # no wake-up at all: only the tick can find them
    await sync_to_async(prune)(1, 2)
    await quiet_hub.tick()
    await response.read_events(2, timeout=3)
    assert [(e.event, e.last_event_id) for e in response.events] == [("streamReset", "2"), ("tick", "3")]
    await response.disconnect()


async def test_a_close_during_a_ticks_head_read_is_not_undone_by_it(
    quiet_hub: StreamHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A listener that reads nothing yet: its server-side send() waits, so it stays subscribed and
    # the hub keeps following the stream through the close, as it would for any slow reader.
    listener = await stream_response(URL, send_buffer=1).start()
    while not quiet_hub.streams.get("bulletins") or not quiet_hub.streams["bulletins"].subscribers:
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    real: Callable[[Iterable[str]], dict[str, StreamHead]] = log.read_heads

    def read_heads_then_close(names: Iterable[str]) -> dict[str, StreamHead]:
        heads = real(names)  # still open when read...
        # ...then close_stream commits and its wake-up arrives before the tick looks at the read.
        Stream.objects.filter(name="bulletins").update(closed=True)
        delivered = threading.Event()

        def deliver() -> None:
            quiet_hub.handle_message({"type": CONTROL_MESSAGE, "stream": "bulletins", "closed": True})
            delivered.set()

        loop.call_soon_threadsafe(deliver)
        delivered.wait(5)
        return heads

    await sync_to_async(Stream.objects.get_or_create)(name="bulletins")
    monkeypatch.setattr(hub_module, "read_heads", read_heads_then_close)
    await quiet_hub.tick()
    monkeypatch.setattr(hub_module, "read_heads", real)
    assert quiet_hub.is_closed("bulletins") is True
    newcomer = await open_stream(URL)  # the hub still follows the stream: it answers, not the log
    assert newcomer.status == 204
    await newcomer.read_to_end()
    await listener.read_to_end(timeout=3)
    assert [e.event for e in listener.events] == ["closedConnection"]


# The tick: heads in batches, groups re-joined only when due or found missing -----------------------


def counting_head_queries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of queries of each read_heads() the hub makes, counted in the thread that runs it."""
    counts: list[int] = []
    real = log.read_heads

    def read_heads(names: Iterable[str]) -> dict[str, StreamHead]:
        with CaptureQueriesContext(connections[Stream.objects.db]) as queries:
            heads = real(names)
        counts.append(len(queries))
        return heads

    monkeypatch.setattr(hub_module, "read_heads", read_heads)
    return counts


async def ticked_heads(
    hub: StreamHub, monkeypatch: pytest.MonkeyPatch, count: int, using: str = "default"
) -> tuple[int | None, list[int]]:
    """Follow `count` streams (a tenth of them with events), tick once: the parameter limit of the
    log's database and the queries of the tick's head read."""
    names = tuple(f"flight.{n}" for n in range(count))
    await sync_to_async(publish_many)([(name, "tick", "") for name in names[::10]], using=using)
    subscription = await hub.subscribe(names)
    queries = counting_head_queries(monkeypatch)
    await hub.tick()
    hub.unsubscribe(subscription)
    limit = await sync_to_async(lambda: connections[Stream.objects.db].features.max_query_params)()
    return limit, queries


@pytest.mark.parametrize("count", [5, 1000])
async def test_a_tick_reads_every_head_in_batches_under_sqlites_parameter_limit(
    quiet_hub: StreamHub, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    limit, queries = await ticked_heads(quiet_hub, monkeypatch, count)
    assert limit is not None  # SQLite caps a query's parameters
    assert queries == [math.ceil(count / (limit - 10))]


class LogOnPostgres:
    """Route liveevents' models to the `postgres` database."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        return "postgres" if model._meta.app_label == "liveevents" else None

    db_for_write = db_for_read


@pytest.fixture
async def log_on_postgres(settings: Any) -> AsyncIterator[None]:
    """The event log on PostgreSQL; the threads that used it close their connections after the
    test, or its database could not be dropped."""
    settings.DATABASE_ROUTERS = ["tests.liveevents.test_hub.LogOnPostgres"]
    yield
    workers = log._db_executor._max_workers
    everyone = threading.Barrier(workers)

    def close() -> None:
        connections["postgres"].close()
        everyone.wait(5)  # so that each thread takes one

    await asyncio.gather(*(log.run_in_db_thread(close) for _ in range(workers)))
    await sync_to_async(lambda: connections["postgres"].close())()  # the test's own writes


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
@pytest.mark.parametrize("count", [5, 1500])
async def test_a_tick_reads_every_head_in_one_query_on_postgresql(
    quiet_hub: StreamHub, monkeypatch: pytest.MonkeyPatch, log_on_postgres: None, count: int
) -> None:
    limit, queries = await ticked_heads(quiet_hub, monkeypatch, count, using="postgres")
    assert limit is None  # PostgreSQL has no such limit
    assert queries == [1]


def joins(hub: StreamHub, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The groups the hub joins (or renews) from now on."""
    joined: list[str] = []
    real = hub.link.join_group

    async def join_group(group: str) -> None:
        joined.append(group)
        await real(group)

    monkeypatch.setattr(hub.link, "join_group", join_group)
    return joined


def publish_unheard(stream: str) -> None:
    """An event whose wake-up never arrived (the layer dropped it, or forgot the group)."""
    with mock.patch("liveevents.wakeup.wake_listeners"):
        publish(stream, "tick", {"stream": stream})


async def test_a_tick_joins_no_group_when_nothing_is_due_or_missing(
    quiet_hub: StreamHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = tuple(f"flight.{n}" for n in range(5))
    subscription = await quiet_hub.subscribe(names)
    await sync_to_async(publish)("flight.1", "tick", "heard")  # its wake-up arrives
    await subscription.take()
    joined = joins(quiet_hub, monkeypatch)
    for _ in range(3):
        await quiet_hub.tick()
    assert joined == []
    quiet_hub.unsubscribe(subscription)


async def test_a_tick_re_joins_the_group_of_a_stream_whose_wake_up_went_missing(
    quiet_hub: StreamHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = tuple(f"flight.{n}" for n in range(5))
    subscription = await quiet_hub.subscribe(names)
    joined = joins(quiet_hub, monkeypatch)
    await sync_to_async(publish_unheard)("flight.3")
    await quiet_hub.tick()
    assert joined == [group_name("flight.3")]
    # ...and caught up from the log.
    frames = await subscription.take()
    assert [(frame.stream, frame.id) for frame in frames] == [("flight.3", 1)]
    # Caught up: the next tick joins nothing.
    await quiet_hub.tick()
    assert joined == [group_name("flight.3")]
    quiet_hub.unsubscribe(subscription)


async def test_a_tick_renews_every_membership_when_due_then_waits_for_the_next_renewal(
    quiet_hub: StreamHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = tuple(f"flight.{n}" for n in range(5))
    subscription = await quiet_hub.subscribe(names)
    joined = joins(quiet_hub, monkeypatch)
    assert quiet_hub.renew_interval is not None
    await quiet_hub.tick()
    assert joined == []  # joined when opened: not due yet
    for name in names:  # a renewal interval later
        quiet_hub.streams[name].joined_at -= quiet_hub.renew_interval
    await quiet_hub.tick()
    assert sorted(joined) == sorted(group_name(name) for name in names)
    joined.clear()
    await quiet_hub.tick()
    assert joined == []
    quiet_hub.unsubscribe(subscription)


async def test_renewals_are_spread_over_ticks_the_oldest_first(
    quiet_hub: StreamHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = tuple(f"flight.{n}" for n in range(16))
    subscriptions = [await quiet_hub.subscribe(names[start : start + 8]) for start in (0, 8)]
    joined = joins(quiet_hub, monkeypatch)
    assert quiet_hub.renew_interval is not None
    # A tick renews max(100, n * tick / interval) of them: every one of 16. A share of 4 shows
    # which go first.
    for age, name in enumerate(names):
        quiet_hub.streams[name].joined_at -= quiet_hub.renew_interval + age
    await quiet_hub._renew(
        list(quiet_hub.streams.values()), time.monotonic(), quiet_hub.renew_interval, share=4
    )
    assert joined == [group_name(name) for name in reversed(names[-4:])]  # the four oldest
    for subscription in subscriptions:
        quiet_hub.unsubscribe(subscription)


async def test_memberships_are_renewed_three_times_per_group_expiry(hub: StreamHub, settings: Any) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"group_expiry": 6}}
    }
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 10, "HEARTBEAT": 30}
    renewing = await restart_hub(hub)
    assert renewing.renew_interval == 2.0
    assert renewing.tick_interval == 2.0  # a tick comes by every renewal
    await renewing.aclose()


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
async def test_heads_read_with_one_array_on_postgresql_are_the_logs(
    quiet_hub: StreamHub, log_on_postgres: None
) -> None:
    names = [f"flight.{n}" for n in range(300)]

    def write_then_read() -> dict[str, StreamHead]:
        publish_many([(name, "tick", "") for name in names[::3] for _ in range(2)], using="postgres")
        set_stream_closed("flight.3", True, using="postgres")
        return read_heads([*names, "never.published"])

    heads = await sync_to_async(write_then_read)()
    assert heads == {name: StreamHead(2, name == "flight.3") for name in names[::3]}


async def test_events_that_come_while_a_stream_is_paced_are_written_together_in_order(
    quiet_hub: StreamHub,
) -> None:
    """After a flush whose writes took d, the next one waits d: events meanwhile queue, then go
    out in one write per connection, in order, and none is lost or repeated."""
    responses = await opened(3)
    await sync_to_async(publish)("bulletins", "tick", {"n": 0})
    for response in responses:
        await response.read_events(1)
    state = quiet_hub.streams["bulletins"]
    # As if the last flush's writes had taken 200 ms: the next may not happen before this.
    state.quiet_until = time.monotonic() + 0.2
    for n in range(1, 4):
        await sync_to_async(publish)("bulletins", "tick", {"n": n})
    await asyncio.sleep(0.05)
    assert state.flush is not None  # planned, not yet done
    assert all(len(response.events) == 1 for response in responses)
    for response in responses:
        chunk = await response._next_chunk(2)  # the one write that carries all three
        assert chunk.count(b"event: tick") == 3
        assert [json.loads(e.data)["n"] for e in response.events] == [0, 1, 2, 3]
        assert response.ids == sorted(set(response.ids))
    assert state.flush is None


async def test_a_stream_with_few_connections_is_flushed_at_once(quiet_hub: StreamHub) -> None:
    """Pacing costs a lone board nothing: the wait after a flush is as long as its writes took."""
    (response,) = await opened(1)
    for n in range(5):
        await sync_to_async(publish)("bulletins", "tick", {"n": n})
        await response.read_events(n + 1, timeout=1)
    state = quiet_hub.streams["bulletins"]
    assert state.quiet_until - time.monotonic() < 0.05


async def test_a_planned_flush_is_cancelled_when_the_stream_is_forgotten(quiet_hub: StreamHub) -> None:
    (response,) = await opened(1)
    state = quiet_hub.streams["bulletins"]
    state.quiet_until = time.monotonic() + 10
    await sync_to_async(publish)("bulletins", "tick", {"n": 1})
    await asyncio.sleep(0.05)
    planned = state.flush
    assert planned is not None
    await response.disconnect()
    await quiet_hub.tick()  # forgets streams nobody follows
    assert "bulletins" not in quiet_hub.streams
    assert planned.cancelled()


async def test_a_drain_is_written_at_once_even_while_a_stream_is_paced(quiet_hub: StreamHub) -> None:
    """SIGTERM gives responses SHUTDOWN_DRAIN to end: the drain does not wait for the pace."""
    (response,) = await opened(1)
    state = quiet_hub.streams["bulletins"]
    state.quiet_until = time.monotonic() + 10
    await sync_to_async(publish)("bulletins", "tick", {"n": 1})
    quiet_hub.drain()
    await response.read_to_end(timeout=1)
    assert [json.loads(e.data)["n"] for e in response.events] == [1]  # the event, then the end
    assert response.parser.retry == 250
