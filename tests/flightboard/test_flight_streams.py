"""A flight's streams: the whole board (`flights`), its own page (`flight.<code>`) and its
terminal's board (`terminal.<code>`); moving it between terminals, removing it, bulk changes."""

from __future__ import annotations

import datetime
import html
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from flightboard.management.commands.seed_flights import TUTORIAL_TERMINALS
from flightboard.models import Flight
from flightboard.streams import FLIGHTS_HTML
from liveevents.bindings import track_changes
from liveevents.streams import PUBLIC, owner, resolve_stream
from liveevents.testing import CapturedEvent, capture_events

CHANGELIST = "/admin/flightboard/flight/"


def make(code: str, terminal: str = "", state: str = "") -> Flight:
    return Flight.objects.create(
        flight=code, origin="Rome", arrival=datetime.time(10, 10), terminal=terminal, state=state
    )


def by_stream(events: list[CapturedEvent]) -> dict[str, list[tuple[str, Any]]]:
    """The JSON events by stream; the htmx board's HTML (flights-html) is test_htmx_board.py's."""
    streams: dict[str, list[tuple[str, Any]]] = {}
    for event in events:
        if event.stream != FLIGHTS_HTML:
            streams.setdefault(event.stream, []).append((event.event, event.json()))
    return streams


def row(code: str, terminal: str, state: str = "") -> dict[str, str]:
    label = Flight.State(state).label
    return {
        "flight": code,
        "origin": "Rome",
        "arrival": "10:10",
        "state": state,
        "state_label": str(label),
        "terminal": terminal,
    }


# Declarations -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["flights", "terminal.2", "terminal.T2B", "flight.I768"])
def test_board_terminal_and_flight_streams_are_public(name: str) -> None:
    assert resolve_stream(name).readers is PUBLIC


def test_user_streams_are_read_by_their_owner_only() -> None:
    spec = resolve_stream("user.7")
    assert spec.family is not None and spec.family.pattern == "user.{id}"
    assert spec.params == {"id": "7"}
    # owner("id"): the readers' code, not only a name that looks like it.
    assert spec.readers.__doc__ == owner("id").__doc__
    assert not spec.public


# Routing ----------------------------------------------------------------------------------------


def test_a_flight_at_a_terminal_feeds_the_board_its_page_and_its_terminal(db: None) -> None:
    with capture_events() as events:
        make("I768", terminal="2")
    assert by_stream(events) == {
        "flights": [("flightStateUpdate", row("I768", "2"))],
        "flight.I768": [("flightStateUpdate", row("I768", "2"))],
        "terminal.2": [("flightStateUpdate", row("I768", "2"))],
    }


def test_a_flight_without_a_terminal_is_on_no_terminal_board(db: None) -> None:
    with capture_events() as events:
        make("I768")
    assert sorted(by_stream(events)) == ["flight.I768", "flights"]


def test_moving_a_flight_takes_it_off_the_old_terminal_once_and_onto_the_new(db: None) -> None:
    flight = make("I768", terminal="1")
    with capture_events() as events:
        flight.terminal = "2"
        flight.save()
        flight.state = Flight.State.LANDING
        flight.save()  # at terminal 2 still: terminal 1 hears nothing more
    assert by_stream(events) == {
        "terminal.1": [("flightRemoval", {"flight": "I768"})],
        "terminal.2": [
            ("flightStateUpdate", row("I768", "2")),
            ("flightStateUpdate", row("I768", "2", "landing")),
        ],
        "flights": [
            ("flightStateUpdate", row("I768", "2")),
            ("flightStateUpdate", row("I768", "2", "landing")),
        ],
        "flight.I768": [
            ("flightStateUpdate", row("I768", "2")),
            ("flightStateUpdate", row("I768", "2", "landing")),
        ],
    }
    # The removal and the arrival commit together, with the change.
    assert len({event.id for event in events if event.stream == "terminal.2"}) == 2


def test_moving_a_flight_in_the_admin_change_form_moves_it_between_boards(
    admin_client: Client, db: None
) -> None:
    flight = make("I768", terminal="1")
    with capture_events() as events:
        response = admin_client.post(
            f"{CHANGELIST}{flight.pk}/change/",
            {"origin": "Rome", "arrival": "10:10", "terminal": "2", "state": ""},
        )
    assert response.status_code == 302
    streams = by_stream(events)
    assert streams["terminal.1"] == [("flightRemoval", {"flight": "I768"})]
    assert streams["terminal.2"] == [("flightStateUpdate", row("I768", "2"))]
    assert Flight.objects.get().terminal == "2"


def test_moving_a_stale_instance_removes_it_from_where_the_database_has_it(db: None) -> None:
    make("I768", terminal="1")
    stale = Flight.objects.get()
    mover = Flight.objects.get()
    mover.terminal = "2"
    mover.save()
    with capture_events() as events:
        stale.terminal = "3"
        stale.save()
    streams = by_stream(events)
    assert streams["terminal.2"] == [("flightRemoval", {"flight": "I768"})]
    assert "terminal.1" not in streams


def test_clearing_the_terminal_takes_the_flight_off_its_board(db: None) -> None:
    flight = make("I768", terminal="1")
    with capture_events() as events:
        flight.terminal = ""
        flight.save(update_fields=["terminal", "updated"])
    streams = by_stream(events)
    assert streams["terminal.1"] == [("flightRemoval", {"flight": "I768"})]
    assert sorted(streams) == ["flight.I768", "flights", "terminal.1"]


def test_removing_a_flight_removes_it_from_each_of_its_streams(db: None) -> None:
    flight = make("I768", terminal="2")
    with capture_events() as events:
        flight.delete()
    assert by_stream(events) == {
        name: [("flightRemoval", {"flight": "I768"})] for name in ("flights", "flight.I768", "terminal.2")
    }


def test_a_code_that_cannot_name_a_stream_feeds_the_board_only(db: None) -> None:
    # Written by code that skipped the model's validation: the board still shows it.
    with capture_events() as events:
        Flight.objects.create(flight="I.768", origin="Rome", arrival=datetime.time(10, 10), terminal="a b")
    assert sorted(by_stream(events)) == ["flights"]


def test_moving_flights_in_bulk_publishes_what_saving_each_would_have(db: None) -> None:
    make("A123", terminal="1")
    make("U213", terminal="1")
    make("I768", terminal="2")
    with capture_events() as events:
        with track_changes(Flight.objects.filter(terminal="1")) as flights:
            flights.update(terminal="3")
    streams = by_stream(events)
    assert sorted(streams["terminal.1"], key=lambda event: event[1]["flight"]) == [
        ("flightRemoval", {"flight": "A123"}),
        ("flightRemoval", {"flight": "U213"}),
    ]
    assert sorted(data["flight"] for _, data in streams["terminal.3"]) == ["A123", "U213"]
    assert "terminal.2" not in streams


# The admin --------------------------------------------------------------------------------------


def test_changelist_shows_and_filters_by_terminal(admin_client: Client, db: None) -> None:
    make("A123", terminal="1")
    make("I768", terminal="2")
    make("ZZ99")
    response = admin_client.get(CHANGELIST, {"terminal": "2"})
    assert [flight.flight for flight in response.context["cl"].result_list] == ["I768"]
    assert '<td class="field-terminal">2</td>' in response.content.decode()
    assert "?terminal=1" in admin_client.get(CHANGELIST).content.decode()


@pytest.mark.parametrize(("typed", "stored"), [("2", "2"), (" t2b ", "T2B"), ("", "")])
def test_adding_a_flight_with_a_terminal_stores_it_upper_case(
    admin_client: Client, db: None, typed: str, stored: str
) -> None:
    response = admin_client.post(
        "/admin/flightboard/flight/add/",
        {"flight": "I768", "origin": "Rome", "arrival": "10:10", "terminal": typed, "state": ""},
    )
    assert response.status_code == 302
    assert Flight.objects.get().terminal == stored


@pytest.mark.parametrize("typed", ["T-2", "12345", "é"])
def test_an_invalid_terminal_is_refused_with_a_clear_message(
    admin_client: Client, db: None, typed: str
) -> None:
    with capture_events() as events:
        response = admin_client.post(
            "/admin/flightboard/flight/add/",
            {"flight": "I768", "origin": "Rome", "arrival": "10:10", "terminal": typed, "state": ""},
        )
    assert response.status_code == 200
    content = html.unescape(response.content.decode())
    assert (
        "A terminal is 1 to 4 capital letters or digits, like 1 or T2B." in content
        or "Ensure this value has at most 4 characters" in content
    )
    assert not Flight.objects.exists()
    assert events == []


# The seed ---------------------------------------------------------------------------------------


def test_seed_flights_puts_two_tutorial_flights_at_each_terminal(db: None) -> None:
    with capture_events() as events:
        call_command("seed_flights", stdout=StringIO())
    assert dict(Flight.objects.values_list("flight", "terminal")) == TUTORIAL_TERMINALS
    assert sorted(set(TUTORIAL_TERMINALS.values())) == ["1", "2", "3"]
    streams = by_stream(events)
    assert sorted(data["flight"] for _, data in streams["terminal.2"]) == ["D654", "I768"]


def test_seed_flights_reset_puts_a_moved_tutorial_flight_back_at_its_terminal(db: None) -> None:
    call_command("seed_flights", stdout=StringIO())
    flight = Flight.objects.get(flight="I768")
    flight.terminal = "3"
    flight.save()
    with capture_events() as events:
        call_command("seed_flights", "--reset", stdout=StringIO())
    assert Flight.objects.get(flight="I768").terminal == "2"
    assert by_stream(events)["terminal.3"] == [("flightRemoval", {"flight": "I768"})]


def test_simulate_flights_brings_the_flight_back_at_its_terminal(db: None) -> None:
    make("ZZ99", terminal="T2B")
    with capture_events("terminal.T2B") as events:
        call_command(
            "simulate_flights", "--flight", "ZZ99", "--cycles", "1", "--interval", "0", stdout=StringIO()
        )
    assert [event.event for event in events] == [
        "flightStateUpdate",
        "flightStateUpdate",
        "flightRemoval",
        "flightStateUpdate",
    ]
    assert Flight.objects.get().terminal == "T2B"
