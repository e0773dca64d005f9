"""flightboard's family streams over ASGI, as daphne serves them (StreamRouter in front of Django)
and through Django's handler alone: who may open `user.<id>`, terminal boards hearing a flight move,
a flight's own stream, and My flights' connection when its user signs out."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.asgi import get_asgi_application
from django.test import Client

from flightboard.models import Flight, Follow
from liveevents.asgi import StreamBackpressure, StreamRouter
from liveevents.hub import StreamHub
from liveevents.publish import publish
from liveevents.testing import StreamResponse

pytestmark = pytest.mark.timeout(30)

PATHS = {
    # flightboard.asgi's stack, without its process-wide garbage collector settings.
    "router": lambda: StreamBackpressure(StreamRouter(get_asgi_application())),
    "django": get_asgi_application,
}


@pytest.fixture(params=sorted(PATHS))
def application(request: pytest.FixtureRequest) -> Any:
    return PATHS[request.param]()


def signed_in(username: str) -> tuple[User, Client, str]:
    """A user, a test client signed in as them, and the `cookie` header of that session."""
    user = User.objects.create_user(username, password="pw")
    client = Client()
    client.force_login(user)
    return user, client, f"sessionid={client.cookies['sessionid'].value}"


def make(code: str, terminal: str) -> Flight:
    return Flight.objects.create(flight=code, origin="Rome", arrival=datetime.time(10, 10), terminal=terminal)


async def opened(application: Any, path: str, cookie: str = "") -> StreamResponse:
    response = StreamResponse(application, path, {"cookie": cookie} if cookie else {})
    await response.start()
    return response


async def refused(application: Any, path: str, cookie: str = "") -> StreamResponse:
    response = await opened(application, path, cookie)
    await response.read_to_end()
    await response.disconnect()
    return response


# Who may read user.<id> ------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["own URL", "multiplexed"])
async def test_another_users_stream_is_refused_before_any_byte(
    hub: StreamHub, application: Any, form: str
) -> None:
    _, _, cookie = await sync_to_async(signed_in)("ada")
    grace, grace_client, _ = await sync_to_async(signed_in)("grace")
    flight = await sync_to_async(make)("I768", "2")
    await sync_to_async(Follow.objects.create)(user=grace, flight=flight)  # something to leak
    stream = f"user.{grace.pk}"
    path = f"/events/{stream}/" if form == "own URL" else f"/events/?stream=flights&stream={stream}"
    for who in (cookie, ""):  # another user, and nobody
        response = await refused(application, path, who)
        assert response.status == 403
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.parser.retry is None and response.events == []
        assert b"I768" not in response.body
    assert hub.connection_count == 0


async def test_the_owner_reads_their_stream_and_hears_their_follows(hub: StreamHub, application: Any) -> None:
    ada, client, cookie = await sync_to_async(signed_in)("ada")
    await sync_to_async(make)("I768", "2")
    await sync_to_async(publish)("flight.I768", "note")
    response = await opened(application, f"/events/?stream=user.{ada.pk}", cookie)
    assert response.status == 200
    await response.read_until(lambda r: r.parser.retry is not None)

    await sync_to_async(client.post)("/flights/I768/follow/")
    await sync_to_async(client.post)("/flights/I768/unfollow/")
    events = await response.read_events(2)
    assert [(e.event, e.last_event_id) for e in events] == [
        ("flightFollowed", f"user.{ada.pk}:1"),
        ("flightUnfollowed", f"user.{ada.pk}:2"),
    ]
    followed = events[0].json()
    assert (followed["flight"], followed["terminal"], followed["lastEventId"]) == ("I768", "2", "2")
    assert events[1].json() == {"flight": "I768"}
    await response.disconnect()


@pytest.mark.parametrize("name", ["user.1.2", "user.", "user.%20"])
async def test_a_user_stream_name_outside_the_grammar_is_404(
    hub: StreamHub, application: Any, name: str
) -> None:
    response = await refused(application, f"/events/?stream={name}")
    assert response.status == 404


# Terminal boards and flight pages -----------------------------------------------------------------


async def test_moving_a_flight_takes_it_off_one_open_board_once_and_onto_the_other(hub: StreamHub) -> None:
    application = PATHS["router"]()
    flight = await sync_to_async(make)("I768", "1")
    board_1 = await opened(application, "/events/?stream=terminal.1&stream=announcements")
    board_2 = await opened(application, "/events/?stream=terminal.2&stream=announcements")
    for board in (board_1, board_2):
        await board.read_until(lambda r: r.parser.retry is not None)

    def move_then_change() -> None:
        flight.terminal = "2"
        flight.save()
        flight.state = Flight.State.LANDING
        flight.save()
        publish("terminal.1", "barrier")  # the stream's order: what terminal 1 got before it is all

    await sync_to_async(move_then_change)()
    await board_1.read_until(lambda r: any(e.event == "barrier" for e in r.events))
    assert [(e.event, e.json()) for e in board_1.events if e.event != "barrier"] == [
        ("flightRemoval", {"flight": "I768"})
    ]
    events = await board_2.read_events(2)
    assert [(e.event, e.json()["terminal"], e.json()["state"]) for e in events] == [
        ("flightStateUpdate", "2", ""),
        ("flightStateUpdate", "2", "landing"),
    ]
    for board in (board_1, board_2):
        await board.disconnect()


async def test_a_flights_own_stream_carries_its_changes_then_its_removal(hub: StreamHub) -> None:
    application = PATHS["router"]()
    flight = await sync_to_async(make)("I768", "1")
    await sync_to_async(make)("A123", "1")  # another flight: not on this stream
    page = await opened(application, "/events/flight.I768/")
    await page.read_until(lambda r: r.parser.retry is not None)

    def change_both_then_remove() -> None:
        for code in ("A123", "I768"):
            other = Flight.objects.get(flight=code)
            other.state = Flight.State.DELAYED
            other.save()
        flight.delete()

    await sync_to_async(change_both_then_remove)()
    events = await page.read_events(2)
    assert [(e.event, e.json()["flight"], e.last_event_id) for e in events] == [
        ("flightStateUpdate", "I768", "2"),
        ("flightRemoval", "I768", "3"),
    ]
    await page.disconnect()


# Signing out ------------------------------------------------------------------------------------


async def test_signing_out_ends_my_flights_own_stream_and_the_flights_go_on(
    hub: StreamHub, application: Any
) -> None:
    ada, client, cookie = await sync_to_async(signed_in)("ada")
    flight = await sync_to_async(make)("I768", "2")
    await sync_to_async(Follow.objects.create)(user=ada, flight=flight)
    response = await opened(application, f"/events/?stream=user.{ada.pk}&stream=flight.I768", cookie)
    assert response.status == 200
    await response.read_until(lambda r: r.parser.retry is not None)

    await sync_to_async(client.post)("/accounts/logout/")
    [closed] = await response.read_events(1)
    assert closed.event == "closedConnection"
    assert json.loads(closed.data) == {"stream": f"user.{ada.pk}", "reason": "forbidden"}

    def change() -> None:
        flight.state = Flight.State.LANDED
        flight.save()

    await sync_to_async(change)()
    events = await response.read_events(2)
    assert (events[1].event, events[1].json()["state"]) == ("flightStateUpdate", "landed")
    await response.disconnect()
