"""Several streams over one connection: /events/?stream=A&stream=B, with cursors as ids."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from liveevents.hub import StreamHub
from liveevents.models import Event
from liveevents.publish import publish, set_stream_closed
from liveevents.streams import PUBLIC, declare_stream, forget_stream
from liveevents.testing import StreamResponse
from tests.conftest import restart_hub
from tests.liveevents.asgi_client import open_stream
from tests.liveevents.test_stream_access import session_cookie_for

pytestmark = pytest.mark.timeout(30)

BOTH = "/events/?stream=bulletins&stream=alerts"


@pytest.fixture(autouse=True, params=["router", "django"])
def served_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test through liveevents' StreamRouter and through Django's view alone; `alerts` is a
    second public stream beside the test project's `bulletins`."""
    import tests.liveevents.asgi_client

    monkeypatch.setattr(tests.liveevents.asgi_client, "ROUTER", request.param == "router")
    declare_stream("alerts", readers=PUBLIC)
    yield request.param
    forget_stream("alerts")


def publish_on(stream: str, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        publish(stream, "tick", {"stream": stream, "n": n})


async def started(path: str, headers: dict[str, str] | None = None) -> StreamResponse:
    response = await open_stream(path, headers)
    assert response.status == 200, response.body
    await response.read_until(lambda r: r.parser.retry is not None)
    return response


def cursors(response: StreamResponse) -> list[str]:
    return [event.last_event_id for event in response.events]


async def test_live_events_carry_the_cursor_with_their_own_stream_first(hub: StreamHub) -> None:
    response = await started(BOTH)
    await sync_to_async(publish_on)("bulletins", 1)
    await sync_to_async(publish_on)("alerts", 2)
    await sync_to_async(publish_on)("bulletins", 1, 1)
    await response.read_events(4)
    assert cursors(response) == [
        "bulletins:1,alerts:0",
        "alerts:1,bulletins:1",
        "alerts:2,bulletins:1",
        "bulletins:2,alerts:2",
    ]
    assert [json.loads(e.data)["stream"] for e in response.events] == [
        "bulletins",
        "alerts",
        "alerts",
        "bulletins",
    ]
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    await response.disconnect()


@pytest.mark.parametrize("how", ["header", "query"])
async def test_both_streams_replay_after_a_reconnect_with_a_cursor(hub: StreamHub, how: str) -> None:
    await sync_to_async(publish_on)("bulletins", 5)
    await sync_to_async(publish_on)("alerts", 3)
    cursor = "alerts:1,bulletins:3"
    if how == "header":
        response = await started(BOTH, {"Last-Event-ID": cursor})
    else:
        response = await started(BOTH + "&lastEventId=" + cursor)
    await response.read_events(4)
    await sync_to_async(publish_on)("alerts", 1, 3)
    await response.read_events(5)
    got = [(json.loads(e.data)["stream"], json.loads(e.data)["n"]) for e in response.events]
    # Each stream in order, from its own position, exactly once; then live.
    assert [n for stream, n in got if stream == "bulletins"] == [3, 4]
    assert [n for stream, n in got if stream == "alerts"] == [1, 2, 3]
    assert response.events[-1].last_event_id == "alerts:4,bulletins:5"
    await response.disconnect()


async def test_a_stream_absent_from_the_cursor_starts_live(hub: StreamHub) -> None:
    await sync_to_async(publish_on)("bulletins", 2)
    await sync_to_async(publish_on)("alerts", 2)
    response = await started(BOTH, {"Last-Event-ID": "bulletins:1"})
    await response.read_events(1)
    await sync_to_async(publish_on)("alerts", 1, 2)
    await response.read_events(2)
    assert cursors(response) == ["bulletins:2,alerts:2", "alerts:3,bulletins:2"]
    await response.disconnect()


async def test_a_reset_on_one_stream_leaves_the_other_going(hub: StreamHub) -> None:
    await sync_to_async(publish_on)("bulletins", 4)
    await sync_to_async(publish_on)("alerts", 2)
    await sync_to_async(Event.objects.filter(stream_id="bulletins", sequence__lte=2).delete)()
    response = await started(BOTH, {"Last-Event-ID": "bulletins:1,alerts:1"})
    await response.read_events(2)
    reset, alert = response.events
    assert (reset.event, json.loads(reset.data)) == ("streamReset", {"stream": "bulletins", "lastEventId": 4})
    assert reset.last_event_id == "bulletins:4,alerts:1"
    assert (alert.event, alert.last_event_id) == ("tick", "alerts:2,bulletins:4")
    await sync_to_async(publish_on)("bulletins", 1, 4)
    await response.read_events(3)
    assert response.events[-1].last_event_id == "bulletins:5,alerts:2"
    await response.disconnect()


async def test_a_position_ahead_of_a_stream_resets_that_stream_only(hub: StreamHub) -> None:
    await sync_to_async(publish_on)("alerts", 2)
    response = await started(BOTH, {"Last-Event-ID": "bulletins:99,alerts:1"})
    await response.read_events(2)
    assert [(e.event, e.last_event_id) for e in response.events] == [
        ("streamReset", "bulletins:0,alerts:1"),
        ("tick", "alerts:2,bulletins:0"),
    ]
    await response.disconnect()


async def test_closing_one_stream_tells_the_connection_and_the_other_goes_on(hub: StreamHub) -> None:
    response = await started(BOTH)
    await sync_to_async(set_stream_closed)("alerts", True)
    await response.read_events(1)
    [closed] = response.events
    assert (closed.event, json.loads(closed.data)) == ("closedConnection", {"stream": "alerts"})
    await sync_to_async(publish_on)("bulletins", 1)
    await sync_to_async(publish_on)("alerts", 1)  # closed streams still log; this one hears none
    await response.read_events(2)
    assert [(e.event, e.last_event_id) for e in response.events[1:]] == [("tick", "bulletins:1,alerts:0")]
    # The last stream closing ends the connection.
    await sync_to_async(set_stream_closed)("bulletins", True)
    await response.read_to_end()
    assert [json.loads(e.data) for e in response.events if e.event == "closedConnection"] == [
        {"stream": "alerts"},
        {"stream": "bulletins"},
    ]


async def test_a_request_whose_streams_are_all_closed_gets_204(hub: StreamHub) -> None:
    await sync_to_async(set_stream_closed)("alerts", True)
    await sync_to_async(set_stream_closed)("bulletins", True)
    response = await open_stream(BOTH)
    await response.read_to_end()
    assert response.status == 204


async def test_a_request_with_one_closed_stream_hears_so_at_once_and_follows_the_other(
    hub: StreamHub,
) -> None:
    await sync_to_async(set_stream_closed)("alerts", True)
    response = await started(BOTH)
    await response.read_events(1)
    assert json.loads(response.events[0].data) == {"stream": "alerts"}
    await sync_to_async(publish_on)("bulletins", 1)
    await response.read_events(2)
    assert response.events[1].last_event_id == "bulletins:1,alerts:0"
    await response.disconnect()


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("?stream=bulletins&stream=nosuch", 404, b"Unknown stream 'nosuch'."),
        ("?stream=bulletins&stream=notes", 403, b"You may not read stream 'notes'."),
        ("", 400, b"Name 1 to 16 streams"),
        ("?stream=" + "&stream=".join(f"s{n}" for n in range(17)), 400, b"Name 1 to 16 streams"),
    ],
)
async def test_every_stream_must_exist_and_be_readable_or_nothing_is_served(
    hub: StreamHub, query: str, status: int, says: bytes
) -> None:
    response = await open_stream("/events/" + query)
    await response.read_to_end()
    assert response.status == status
    assert says in response.body
    assert b"retry:" not in response.body
    assert hub.connection_count == 0


async def test_a_forbidden_stream_among_several_is_403_even_with_a_bad_cursor(hub: StreamHub) -> None:
    response = await open_stream("/events/?stream=bulletins&stream=notes", {"Last-Event-ID": "garbage"})
    await response.read_to_end()
    assert response.status == 403


async def test_a_signed_in_reader_follows_a_private_stream_beside_a_public_one(hub: StreamHub) -> None:
    cookie = await sync_to_async(session_cookie_for)("reader")
    response = await started("/events/?stream=bulletins&stream=notes", {"Cookie": cookie})
    await sync_to_async(publish_on)("notes", 1)
    await response.read_events(1)
    assert response.events[0].last_event_id == "notes:1,bulletins:0"
    await response.disconnect()


@pytest.mark.parametrize("cursor", ["12", "bulletins", "bulletins:-1", "bulletins:1,bulletins:2", "a:1;b:2"])
async def test_a_malformed_cursor_is_400_saying_what_a_cursor_is(hub: StreamHub, cursor: str) -> None:
    response = await open_stream(BOTH, {"Last-Event-ID": cursor})
    await response.read_to_end()
    assert response.status == 400
    assert b"stream:id pairs joined by ','" in response.body


async def test_duplicate_streams_collapse_and_unknown_cursor_names_are_ignored(hub: StreamHub) -> None:
    await sync_to_async(publish_on)("bulletins", 2)
    response = await started(
        "/events/?stream=bulletins&stream=bulletins", {"Last-Event-ID": "gone:4,bulletins:1"}
    )
    await response.read_events(1)
    assert cursors(response) == ["bulletins:2"]
    await response.disconnect()


async def test_one_connection_counts_once_against_the_cap(hub: StreamHub, settings: Any) -> None:
    settings.LIVEEVENTS = {**settings.LIVEEVENTS, "MAX_CONNECTIONS": 1}
    hub = await restart_hub(hub)
    first = await started(BOTH)
    assert hub.connection_count == 1
    second = await open_stream("/events/?stream=alerts")
    await second.read_to_end()
    assert second.status == 503
    assert second.headers["retry-after"] == "5"
    await first.disconnect()
    await asyncio.sleep(0)
    assert hub.connection_count == 0


async def test_a_burst_to_a_stream_nobody_follows_never_exceeds_the_cap(
    hub: StreamHub, settings: Any
) -> None:
    # The reconnect storm after a restart: every request passes its checks while the stream is
    # still opening. Each is counted as it passes, so no more than the cap stream.
    settings.LIVEEVENTS = {**settings.LIVEEVENTS, "MAX_CONNECTIONS": 50}
    hub = await restart_hub(hub)
    responses = await asyncio.gather(*(open_stream("/events/bulletins/") for _ in range(300)))
    statuses = [response.status for response in responses]
    assert statuses.count(200) == 50
    assert statuses.count(503) == 250
    assert hub.connection_count == 50
    for response in responses:
        await response.disconnect()
    assert hub.connection_count == 0


async def test_replay_batches_stop_at_the_byte_budget(
    hub: StreamHub, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import liveevents.replay

    settings.LIVEEVENTS = {**settings.LIVEEVENTS, "REPLAY_BYTES": 10_000, "REPLAY_BATCH": 500}
    hub = await restart_hub(hub)
    sizes: list[int] = []
    real_read = liveevents.replay.read_head_then_events

    def recorded(stream: str, after: int, limit: int, max_bytes: int | None = None) -> Any:
        head, events = real_read(stream, after, limit, max_bytes)
        sizes.append(sum(len(event.data) for event in events))
        return head, events

    monkeypatch.setattr(liveevents.replay, "read_head_then_events", recorded)
    big = "x" * 4_000
    await sync_to_async(lambda: [publish("bulletins", "big", big) for _ in range(10)])()
    response = await started("/events/bulletins/", {"Last-Event-ID": "0"})
    await response.read_events(10)
    assert response.ids == list(range(1, 11))
    # Three events (12,000 bytes) reach the 10,000 budget: batches of 3, 3, 3 and 1, never all ten.
    assert sizes == [12_000, 12_000, 12_000, 4_000]
    await response.disconnect()


# Family members are streams of their own ---------------------------------------------------------


@pytest.fixture
def terminals() -> Iterator[None]:
    declare_stream("terminal.{code}", readers=PUBLIC)
    yield
    forget_stream("terminal.{code}")


async def test_closing_one_member_of_a_family_leaves_the_others_open(hub: StreamHub, terminals: None) -> None:
    both = await started("/events/?stream=terminal.1&stream=terminal.2")
    other = await started("/events/terminal.2/")
    await sync_to_async(set_stream_closed)("terminal.1", True)
    await both.read_events(1)
    assert (both.events[0].event, json.loads(both.events[0].data)) == (
        "closedConnection",
        {"stream": "terminal.1"},
    )
    await sync_to_async(publish_on)("terminal.2", 1)
    await both.read_events(2)
    await other.read_events(1)
    assert both.events[1].last_event_id == "terminal.2:1,terminal.1:0"
    assert [(e.event, e.last_event_id) for e in other.events] == [("tick", "1")]
    closed = await open_stream("/events/terminal.1/")
    await closed.read_to_end()
    assert closed.status == 204
    await both.disconnect()
    await other.disconnect()


async def test_a_reset_on_one_member_of_a_family_leaves_the_others_going(
    hub: StreamHub, terminals: None
) -> None:
    await sync_to_async(publish_on)("terminal.1", 2)
    await sync_to_async(publish_on)("terminal.2", 2)
    response = await started(
        "/events/?stream=terminal.1&stream=terminal.2", {"Last-Event-ID": "terminal.1:9,terminal.2:1"}
    )
    await response.read_events(2)
    assert [(e.event, e.last_event_id) for e in response.events] == [
        ("streamReset", "terminal.1:2,terminal.2:1"),
        ("tick", "terminal.2:2,terminal.1:2"),
    ]
    assert json.loads(response.events[0].data) == {"stream": "terminal.1", "lastEventId": 2}
    await response.disconnect()
