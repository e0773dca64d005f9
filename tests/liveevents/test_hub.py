"""The hub's own repairs: gaps in wake-ups, pruned holes, and a close racing a tick's head read."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async

from liveevents import hub as hub_module
from liveevents import log
from liveevents.hub import StreamHub
from liveevents.log import StreamHead
from liveevents.models import Event, Stream
from liveevents.publish import CONTROL_MESSAGE, publish
from liveevents.testing import StreamResponse
from tests.conftest import restart_hub
from tests.liveevents.asgi_client import open_stream, stream_response

pytestmark = pytest.mark.timeout(30)

URL = "/events/bulletins/"


def publish_silently(count: int) -> None:
    """Events another process committed whose wake-ups never reached this one."""
    with mock.patch("liveevents.publish.wake_listeners"):
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
