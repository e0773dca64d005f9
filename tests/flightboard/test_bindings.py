"""flightboard's bindings: a Flight's saves and deletes on the `flights` stream."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.core.management import call_command

from flightboard.models import Flight
from liveevents.testing import capture_events


def test_flight_create_update_delete_publish_the_whole_row_then_the_removal(db: None) -> None:
    with capture_events("flights") as events:
        flight = Flight.objects.create(flight="I768", origin="Rome", arrival="10:10")
        flight.state = Flight.State.LANDING
        flight.save()
        flight.state = Flight.State.LANDED
        flight.save(update_fields=["state", "updated"])
        flight.delete()
    row = {"flight": "I768", "origin": "Rome", "arrival": "10:10", "terminal": ""}
    assert [(e.id, e.event, e.json()) for e in events] == [
        (1, "flightStateUpdate", {**row, "state": "", "state_label": "Scheduled"}),
        (2, "flightStateUpdate", {**row, "state": "landing", "state_label": "Landing"}),
        (3, "flightStateUpdate", {**row, "state": "landed", "state_label": "Landed"}),
        (4, "flightRemoval", {"flight": "I768"}),
    ]


@pytest.mark.parametrize(
    ("state", "label"),
    [("", "Scheduled"), ("delayed", "Delayed"), ("cancelled", "Cancelled"), ("diverted", "Diverted")],
)
def test_flight_event_carries_the_state_label(db: None, state: str, label: str) -> None:
    with capture_events("flights") as events:
        Flight.objects.create(flight="BA2490", origin="London", arrival="07:05", state=state)
    [event] = events
    data = event.json()
    assert (event.stream, data["state"], data["state_label"], data["arrival"]) == (
        "flights",
        state,
        label,
        "07:05",
    )


def test_flight_arrival_is_sent_as_hours_and_minutes_without_seconds(db: None) -> None:
    with capture_events("flights") as events:
        Flight.objects.create(flight="G119", origin="Tokyo", arrival=datetime.time(9, 5, 59))
    assert events[0].json()["arrival"] == "09:05"


def test_loaddata_of_flights_publishes_nothing(db: None, tmp_path: Path) -> None:
    fixture = tmp_path / "board.json"
    fixture.write_text(
        '[{"model": "flightboard.flight", "pk": 20, "fields": {"flight": "A123", "origin": "London",'
        ' "arrival": "08:15", "state": "", "updated": "2024-01-01T00:00:00Z"}}]'
    )
    with capture_events() as events:
        call_command("loaddata", str(fixture), verbosity=0)
    assert Flight.objects.get(pk=20).flight == "A123"
    assert events == []
