"""The SSE endpoint at the ASGI level: headers, replay, live, heartbeat, reset, close, clean-up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers

from liveevents.hub import StreamHub
from liveevents.models import Event, Stream
from liveevents.publish import publish, set_stream_closed
from liveevents.wakeup import group_name
from tests.conftest import restart_hub
from tests.liveevents.asgi_client import open_stream
from tests.notes.models import Bulletin

pytestmark = pytest.mark.timeout(30)

URL = "/events/bulletins/"


@pytest.fixture(autouse=True, params=["router", "django"])
def served_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: through liveevents.asgi.StreamRouter (as a project serves public streams)
    and through Django's view alone (how a stream behind the middleware is served)."""
    import tests.liveevents.asgi_client

    monkeypatch.setattr(tests.liveevents.asgi_client, "ROUTER", request.param == "router")
    return request.param


def publish_many(count: int, stream: str = "bulletins") -> None:
    for n in range(count):
        publish(stream, "tick", {"n": n})


async def test_response_headers_and_retry_first(hub: StreamHub) -> None:
    response = await open_stream(URL)
    assert response.status == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    await response.read_until(lambda r: r.parser.retry is not None)
    assert response.body.startswith(b"retry: 2000\n\n")
    await response.disconnect()


async def test_live_events_have_contiguous_ids_and_names(hub: StreamHub) -> None:
    response = await open_stream(URL)
    await response.read_until(lambda r: r.parser.retry is not None)
    await sync_to_async(publish_many)(5)
    events = await response.read_events(5)
    assert [e.event for e in events] == ["tick"] * 5
    assert [int(e.last_event_id) for e in events] == [1, 2, 3, 4, 5]
    assert [json.loads(e.data)["n"] for e in events] == [0, 1, 2, 3, 4]
    await response.disconnect()


async def test_model_save_and_delete_reach_the_stream(hub: StreamHub) -> None:
    response = await open_stream(URL)
    await response.read_until(lambda r: r.parser.retry is not None)

    def edit() -> int:
        bulletin = Bulletin.objects.create(text="Gate change")
        bulletin.text = "Gate B12"
        bulletin.save()
        pk = bulletin.pk
        bulletin.delete()
        return pk

    pk = await sync_to_async(edit)()
    events = await response.read_events(3)
    assert [e.event for e in events] == ["bulletinSaved", "bulletinSaved", "bulletinRemoved"]
    assert json.loads(events[1].data) == {"id": pk, "text": "Gate B12"}
    assert json.loads(events[2].data) == {"id": pk}
    await response.disconnect()


@pytest.mark.parametrize("how", ["header", "query"])
async def test_reconnect_replays_missed_events_in_order(hub: StreamHub, how: str) -> None:
    await sync_to_async(publish_many)(10)
    if how == "header":
        response = await open_stream(URL, {"Last-Event-ID": "4"})
    else:
        response = await open_stream(URL + "?lastEventId=4")
    await response.read_events(6)
    await sync_to_async(publish_many)(2)
    await response.read_events(8)
    assert response.ids == [5, 6, 7, 8, 9, 10, 11, 12]
    await response.disconnect()


async def test_header_wins_over_query_parameter(hub: StreamHub) -> None:
    await sync_to_async(publish_many)(5)
    response = await open_stream(URL + "?lastEventId=1", {"Last-Event-ID": "3"})
    await response.read_events(2)
    assert response.ids == [4, 5]
    await response.disconnect()


async def test_replay_is_batched_and_joins_live_without_gap_or_duplicate(
    hub: StreamHub, settings: Any
) -> None:
    settings.LIVEEVENTS = {**settings.LIVEEVENTS, "REPLAY_BATCH": 7}
    hub = await restart_hub(hub)
    assert hub.batch == 7
    await sync_to_async(publish_many)(30)
    response = await open_stream(URL, {"Last-Event-ID": "0"})
    # Publish while the replay is still being read.
    writer = asyncio.create_task(sync_to_async(publish_many)(30))
    await response.read_events(60, timeout=15)
    await writer
    assert response.ids == list(range(1, 61))
    await response.disconnect()
    await hub.aclose()


@pytest.fixture
async def quiet_hub(hub: StreamHub, settings: Any) -> AsyncIterator[StreamHub]:
    """A hub whose ticks (which also forget shared reads) do not come during the test."""
    settings.LIVEEVENTS = {**settings.LIVEEVENTS, "CATCH_UP_INTERVAL": 3600, "HEARTBEAT": 3600}
    quiet = await restart_hub(hub)
    yield quiet
    await quiet.aclose()


async def test_a_reconnect_storm_shares_one_log_read_and_never_a_stale_one(
    quiet_hub: StreamHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import liveevents.replay

    reads: list[int] = []
    real_read = liveevents.replay.read_head_then_events

    def counted_read(stream: str, after: int, limit: int, max_bytes: int | None = None) -> Any:
        reads.append(after)
        return real_read(stream, after, limit, max_bytes)

    monkeypatch.setattr(liveevents.replay, "read_head_then_events", counted_read)
    await sync_to_async(publish_many)(60)
    # A listener keeps the stream followed, as on a server whose other clients reconnect.
    anchor = await open_stream(URL)
    await anchor.read_until(lambda r: r.parser.retry is not None)
    storm = await asyncio.gather(*(open_stream(URL, {"Last-Event-ID": "10"}) for _ in range(30)))
    for response in storm:
        await response.read_events(50)
        assert response.ids == list(range(11, 61))
    assert reads == [10]  # thirty replays, one read

    # Something new was delivered since that read: the next replay reads again and misses nothing.
    await sync_to_async(publish_many)(1)
    await anchor.read_events(1)
    late = await open_stream(URL, {"Last-Event-ID": "10"})
    await late.read_events(51)
    assert late.ids == list(range(11, 62))
    assert reads == [10, 10]
    for response in [anchor, late, *storm]:
        await response.disconnect()


async def test_a_connection_joining_a_read_made_before_an_event_still_gets_that_event(
    quiet_hub: StreamHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import liveevents.replay

    started, release = threading.Event(), threading.Event()
    real_read = liveevents.replay.read_head_then_events

    def slow_first_read(stream: str, after: int, limit: int, max_bytes: int | None = None) -> Any:
        result = real_read(stream, after, limit, max_bytes)
        if not started.is_set():
            started.set()
            release.wait(5)  # the query is done; its result reaches the loop only later
        return result

    monkeypatch.setattr(liveevents.replay, "read_head_then_events", slow_first_read)
    await sync_to_async(publish_many)(5)
    anchor = await open_stream(URL)
    await anchor.read_until(lambda r: r.parser.retry is not None)
    first = await open_stream(URL, {"Last-Event-ID": "2"})
    while not started.is_set():
        await asyncio.sleep(0.01)
    # Event 6 commits and is delivered while that read (head 5) is still on its way.
    await sync_to_async(publish_many)(1)
    await anchor.read_events(1)
    second = await open_stream(URL, {"Last-Event-ID": "2"})  # live from 7: it needs 3..6 from the log
    await asyncio.sleep(0.2)
    release.set()
    await first.read_events(4)
    await second.read_events(4, timeout=3)
    assert first.ids == [3, 4, 5, 6]
    assert second.ids == [3, 4, 5, 6]
    for response in (anchor, first, second):
        await response.disconnect()


async def test_a_read_made_for_an_id_ahead_of_the_log_never_resets_a_client_that_saw_that_id(
    quiet_hub: StreamHub,
) -> None:
    await sync_to_async(publish_many)(5)
    anchor = await open_stream(URL)
    await anchor.read_until(lambda r: r.parser.retry is not None)
    # Someone asks for 6 before it exists: a reset is right for them.
    early = await open_stream(URL, {"Last-Event-ID": "6"})
    await early.read_events(1)
    assert [e.event for e in early.parser.events] == ["streamReset"]
    # Another process commits 6 (no wake-up here yet); a browser that saw it there fails over.
    await sync_to_async(_publish_without_wakeup)("bulletins", 1)
    failed_over = await open_stream(URL, {"Last-Event-ID": "6"})
    await failed_over.read_until(lambda r: r.parser.retry is not None)
    await sync_to_async(publish_many)(1)
    await failed_over.read_events(1, timeout=3)
    assert [(e.event, e.last_event_id) for e in failed_over.parser.events] == [("tick", "7")]
    for response in (anchor, early, failed_over):
        await response.disconnect()


async def test_no_id_means_live_from_now(hub: StreamHub) -> None:
    await sync_to_async(publish_many)(3)
    response = await open_stream(URL)
    await response.read_until(lambda r: r.parser.retry is not None)
    await sync_to_async(publish_many)(1)
    await response.read_events(1)
    assert response.ids == [4]
    await response.disconnect()


async def test_event_written_by_another_process_arrives_by_the_tick(hub: StreamHub) -> None:
    response = await open_stream(URL)
    await response.read_until(lambda r: r.parser.retry is not None)
    # Another process writes the log but its wake-up never reaches this process's layer.
    await sync_to_async(_publish_without_wakeup)("bulletins", 3)
    await response.read_events(3, timeout=3)
    assert response.ids == [1, 2, 3]
    await response.disconnect()


def _publish_without_wakeup(stream: str, count: int) -> None:
    from unittest import mock

    with mock.patch("liveevents.wakeup.wake_listeners"):
        publish_many(count, stream)


async def test_lost_wakeup_is_repaired_from_the_log_on_the_next_message(
    hub: StreamHub, settings: Any
) -> None:
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 60, "HEARTBEAT": 120}
    hub = await restart_hub(hub)
    response = await open_stream(URL)
    await response.read_until(lambda r: r.parser.retry is not None)
    await sync_to_async(_publish_without_wakeup)("bulletins", 2)  # ids 1, 2: wake-ups lost
    await sync_to_async(publish_many)(1)  # id 3 arrives: the hub sees the gap and reads 1, 2
    await response.read_events(3, timeout=3)
    assert response.ids == [1, 2, 3]
    await response.disconnect()
    await hub.aclose()


async def test_heartbeat_comment_during_silence(hub: StreamHub, settings: Any) -> None:
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 0.1, "HEARTBEAT": 0.4}
    hub = await restart_hub(hub)
    response = await open_stream(URL)
    await response.read_until(lambda r: len(r.parser.comments) >= 2, timeout=3)
    assert response.parser.comments[:2] == ["keepalive", "keepalive"]
    assert b"\n: keepalive\n\n" in response.body
    await response.disconnect()
    await hub.aclose()


@pytest.mark.parametrize("last_id", ["50", "4"])
async def test_stream_reset_when_id_is_ahead_or_pruned(hub: StreamHub, last_id: str) -> None:
    await sync_to_async(publish_many)(10)
    await sync_to_async(lambda: Event.objects.filter(sequence__lte=6).delete())()
    response = await open_stream(URL, {"Last-Event-ID": last_id})
    await response.read_events(1)
    reset = response.parser.events[0]
    assert reset.event == "streamReset"
    assert json.loads(reset.data) == {"stream": "bulletins", "lastEventId": 10}
    assert reset.last_event_id == "10"
    # Live events continue after the reset id, with nothing replayed before it.
    await sync_to_async(publish_many)(1)
    await response.read_events(2)
    assert response.parser.events[1].last_event_id == "11"
    assert len(response.parser.events) == 2
    await response.disconnect()


async def test_id_still_in_the_log_replays_even_after_older_events_were_pruned(hub: StreamHub) -> None:
    await sync_to_async(publish_many)(10)
    await sync_to_async(lambda: Event.objects.filter(sequence__lte=6).delete())()
    response = await open_stream(URL, {"Last-Event-ID": "6"})
    await response.read_events(4)
    assert response.ids == [7, 8, 9, 10]
    await response.disconnect()


async def test_close_stream_ends_listeners_and_refuses_new_ones_until_reopened(hub: StreamHub) -> None:
    first = await open_stream(URL)
    second = await open_stream(URL)
    await first.read_until(lambda r: r.parser.retry is not None)
    await second.read_until(lambda r: r.parser.retry is not None)
    await sync_to_async(set_stream_closed)("bulletins", True)
    for response in (first, second):
        await response.read_to_end()
        assert [e.event for e in response.parser.events] == ["closedConnection"]
        assert response.parser.events[0].data == ""
    refused = await open_stream(URL)
    assert refused.status == 204
    await refused.read_to_end()
    await sync_to_async(set_stream_closed)("bulletins", False)
    reopened = await open_stream(URL)
    assert reopened.status == 200
    await reopened.disconnect()


async def test_close_from_another_process_reaches_listeners_by_the_tick(hub: StreamHub) -> None:
    response = await open_stream(URL)
    await response.read_until(lambda r: r.parser.retry is not None)
    await sync_to_async(
        lambda: Stream.objects.update_or_create(name="bulletins", defaults={"closed": True})
    )()
    await response.read_to_end(timeout=3)
    assert [e.event for e in response.parser.events] == ["closedConnection"]


async def test_disconnect_leaves_no_hub_state_or_group_membership(hub: StreamHub) -> None:
    responses = [await open_stream(URL) for _ in range(3)]
    for response in responses:
        await response.read_until(lambda r: r.parser.retry is not None)
    layer = channel_layers["default"]
    assert hub.connection_count == 3
    assert hub.link.channel in layer.groups[group_name("bulletins")]
    for response in responses:
        await response.disconnect()
    await asyncio.sleep(0.05)
    assert hub.connection_count == 0
    assert hub.streams == {}
    assert group_name("bulletins") not in layer.groups
    assert hub._receiver is None and hub._ticker is None


async def test_slow_reader_is_cut_off_and_replays_on_reconnect(hub: StreamHub, settings: Any) -> None:
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 0.2, "HEARTBEAT": 15, "QUEUE_SIZE": 5}
    hub = await restart_hub(hub)
    response = await open_stream(URL, send_buffer=1)
    await response.read_until(lambda r: r.parser.retry is not None)
    subscription = next(iter(hub.streams["bulletins"].subscribers))
    # The client reads nothing while 20 events flow: its queue of 5 fills and it is cut off.
    await sync_to_async(publish_many)(20)
    await asyncio.sleep(0.3)
    assert subscription.overflowed
    await response.read_to_end()
    received = response.ids
    assert received == list(range(1, len(received) + 1))
    assert len(received) < 20
    again = await open_stream(URL, {"Last-Event-ID": str(received[-1] if received else 0)})
    await again.read_events(20 - len(received))
    assert received + again.ids == list(range(1, 21))
    await again.disconnect()
    await hub.aclose()


async def test_connection_cap_answers_503_with_retry_after(hub: StreamHub, settings: Any) -> None:
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 0.2, "HEARTBEAT": 15, "MAX_CONNECTIONS": 1}
    hub = await restart_hub(hub)
    first = await open_stream(URL)
    await first.read_until(lambda r: r.parser.retry is not None)
    refused = await open_stream(URL)
    assert refused.status == 503
    assert refused.headers["retry-after"] == "5"
    await refused.read_to_end()
    await first.disconnect()
    await hub.aclose()


async def test_periodic_prune_keeps_the_log_bounded_and_old_ids_get_a_reset(
    hub: StreamHub, settings: Any
) -> None:
    settings.LIVEEVENTS = {
        "CATCH_UP_INTERVAL": 0.1,
        "HEARTBEAT": 15,
        "PRUNE_INTERVAL": 0.1,
        "RETENTION_DAYS": 1,
    }
    from datetime import timedelta

    from django.utils import timezone

    hub = await restart_hub(hub)
    await sync_to_async(publish_many)(5)
    await sync_to_async(
        lambda: Event.objects.filter(sequence__lte=3).update(created=timezone.now() - timedelta(days=2))
    )()
    listener = await open_stream(URL)
    await listener.read_until(lambda r: r.parser.retry is not None)
    for _ in range(50):
        if await sync_to_async(Event.objects.count)() == 2:
            break
        await asyncio.sleep(0.05)
    assert await sync_to_async(lambda: list(Event.objects.values_list("sequence", flat=True)))() == [4, 5]
    late = await open_stream(URL, {"Last-Event-ID": "1"})
    await late.read_events(1)
    assert late.parser.events[0].event == "streamReset"
    assert late.parser.events[0].last_event_id == "5"
    await late.disconnect()
    await listener.disconnect()
    await hub.aclose()


async def test_a_tick_between_opening_a_stream_and_its_waiting_listeners_orphans_no_one(
    hub: StreamHub,
) -> None:
    loop = asyncio.get_running_loop()
    opened = hub._open_stream

    async def open_then_tick(state: Any) -> None:
        await opened(state)
        # The tick's clean-up, landing in the same loop turn as the opening, before the waiters resume.
        loop.call_soon(lambda: [hub._forget(s) for s in list(hub.streams.values()) if not s.subscribers])

    hub._open_stream = open_then_tick  # type: ignore[method-assign]
    subscriptions = await asyncio.gather(*(hub.subscribe(("bulletins",)) for _ in range(3)))
    hub._open_stream = opened  # type: ignore[method-assign]
    assert set(subscriptions) <= hub.streams["bulletins"].subscribers
    await sync_to_async(publish_many)(1)
    for subscription in subscriptions:
        frames = await asyncio.wait_for(subscription.take(), 3)
        assert [frame.id for frame in frames] == [1]
    for subscription in subscriptions:
        hub.unsubscribe(subscription)


async def test_hub_renews_group_membership_faster_than_the_layer_expires_it(
    hub: StreamHub, settings: Any
) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"group_expiry": 1}}
    }
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 60, "HEARTBEAT": 120}
    hub = await restart_hub(hub)
    assert hub.tick_interval <= 1 / 3
    response = await open_stream(URL)
    await response.read_until(lambda r: r.parser.retry is not None)
    layer = channel_layers["default"]
    await asyncio.sleep(2.5)  # well past the one-second expiry
    layer._clean_expired()
    assert hub.link.channel in layer.groups.get(group_name("bulletins"), {})
    await sync_to_async(publish_many)(1)
    await response.read_events(1, timeout=2)
    assert response.ids == [1]
    await response.disconnect()
    await hub.aclose()


async def test_a_tick_whose_head_read_was_overtaken_by_live_events_resets_no_one(
    hub: StreamHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import liveevents.hub

    response = await open_stream(URL)
    await response.read_until(lambda r: r.parser.retry is not None)
    await sync_to_async(publish_many)(1)
    await response.read_events(1)
    real_run = liveevents.hub.run_in_db_thread

    async def head_read_overtaken(function: Any, *args: Any) -> Any:
        result = await real_run(function, *args)
        if function is liveevents.hub.read_heads:
            # While the head is being read, a newer event is committed and delivered live.
            await sync_to_async(publish_many)(1)
            while hub.streams["bulletins"].delivered < 2:
                await asyncio.sleep(0.01)
        return result

    monkeypatch.setattr(liveevents.hub, "run_in_db_thread", head_read_overtaken)
    await hub.tick()
    monkeypatch.setattr(liveevents.hub, "run_in_db_thread", real_run)
    await sync_to_async(publish_many)(1)
    await response.read_events(3)
    assert [e.event for e in response.parser.events] == ["tick", "tick", "tick"]
    assert response.ids == [1, 2, 3]
    await response.disconnect()
