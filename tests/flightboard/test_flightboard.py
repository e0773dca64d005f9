"""flightboard: the board page, the admin, and the management commands (flightboard's and liveevents')."""

from __future__ import annotations

import datetime
import html
import json
import re
from io import StringIO
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client

from flightboard.management.commands.seed_flights import TUTORIAL_FLIGHTS
from flightboard.models import Flight
from liveevents.models import Event, Stream
from liveevents.publish import publish
from tests.flightboard.staff import offered_actions, staff_client

CHANGELIST = "/admin/flightboard/flight/"
ADD = "/admin/flightboard/flight/add/"


def flight_events(after: int = 0) -> list[tuple[str, dict[str, Any]]]:
    rows = Event.objects.filter(stream_id="flights", sequence__gt=after).order_by("sequence")
    return [(row.event, json.loads(row.data)) for row in rows]


def make(code: str, origin: str, arrival: str, state: str = "") -> Flight:
    return Flight.objects.create(
        flight=code, origin=origin, arrival=datetime.time.fromisoformat(arrival), state=state
    )


def run(command: str, *args: str, **options: Any) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, **options)
    return out.getvalue()


# The board page --------------------------------------------------------------------------------


def test_board_renders_rows_sorted_by_arrival(client: Client, db: None) -> None:
    make("G119", "Tokyo", "10:35")
    make("A123", "London", "08:15", "landed")
    make("I768", "Rome", "10:10", "landing")
    make("AA01", "Boston", "10:10")  # same time: then by code
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    content = response.content.decode()
    assert re.findall(r'<tr data-flight="([^"]+)">', content) == ["A123", "AA01", "I768", "G119"]
    row = re.search(r'<tr data-flight="I768">(.*?)</tr>', content, re.DOTALL)
    assert row is not None
    assert '<td data-field="origin">Rome</td>' in row.group(1)
    assert '<td data-field="flight"><a href="/flights/I768/">I768</a></td>' in row.group(1)
    assert '<td data-field="arrival">10:10</td>' in row.group(1)
    assert '<td data-field="state" data-state="landing">Landing</td>' in row.group(1)
    assert 'data-field="state" data-state="scheduled">Scheduled</td>' in content


def test_board_passes_the_streams_current_cursor(client: Client, db: None) -> None:
    make("A123", "London", "08:15")
    make("I768", "Rome", "10:10")
    publish("flights", "tick")
    assert Stream.current_id("flights") == 3
    content = client.get("/").content.decode()
    assert 'data-stream-cursor="flights:3,announcements:0"' in content
    assert 'data-streams-url="/events/?stream=flights&amp;stream=announcements"' in content


def test_board_before_the_first_event_passes_id_zero_and_says_it_is_empty(client: Client, db: None) -> None:
    content = client.get("/").content.decode()
    assert 'data-stream-cursor="flights:0,announcements:0"' in content
    assert '<tr id="no-flights" class="empty"><td colspan="4">No flights on the board.</td></tr>' in content
    assert "data-flight=" not in content


def test_board_loads_board_js_as_a_module_and_has_no_inline_script(client: Client, db: None) -> None:
    make("I768", "Rome", "10:10")
    content = client.get("/").content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", content, re.DOTALL | re.IGNORECASE)
    assert scripts == [(' type="module" src="/static/flightboard/board.js"', "")]
    assert "onclick=" not in content.lower()
    assert 'data-client-src="/static/liveevents/liveevents.js"' in content


@pytest.mark.parametrize(
    "evil", ["</script><script>alert(1)</script>", "<img src=x onerror=alert(1)>", '" onmouseover="alert(1)']
)
def test_board_escapes_values(client: Client, db: None, evil: str) -> None:
    # Created in code, bypassing the admin's validation, as a fixture or another app could.
    Flight.objects.create(flight=evil[:8], origin=evil, arrival=datetime.time(9, 0))
    content = client.get("/").content.decode()
    assert evil not in content
    assert html.escape(evil) in content
    assert f'<tr data-flight="{html.escape(evil[:8])}">' in content
    assert "<img" not in content
    assert content.count("<script") == 1


# The admin: changelist -------------------------------------------------------------------------


@pytest.fixture
def board(db: None) -> dict[str, Flight]:
    return {
        "A123": make("A123", "London", "08:15"),
        "D654": make("D654", "Berlin", "08:45", "delayed"),
        "I768": make("I768", "Rome", "10:10", "landing"),
        "G119": make("G119", "Tokyo", "10:35"),
    }


def listed(response: Any) -> list[str]:
    return [flight.flight for flight in response.context["cl"].result_list]


def test_changelist_lists_flights_by_arrival_with_editable_state(
    admin_client: Client, board: dict[str, Flight]
) -> None:
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert listed(response) == ["A123", "D654", "I768", "G119"]
    content = response.content.decode()
    assert 'name="form-0-state"' in content
    assert 'name="form-0-origin"' not in content
    assert '<option value="landing" selected>Landing</option>' in content


@pytest.mark.parametrize(
    ("query", "expected"), [("rome", ["I768"]), ("A12", ["A123"]), ("o", ["A123", "I768", "G119"])]
)
def test_changelist_search_matches_code_and_origin(
    admin_client: Client, board: dict[str, Flight], query: str, expected: list[str]
) -> None:
    assert listed(admin_client.get(CHANGELIST, {"q": query})) == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [("landing", ["I768"]), ("delayed", ["D654"]), ("", ["A123", "G119"]), ("landed", [])],
)
def test_changelist_filters_by_state(
    admin_client: Client, board: dict[str, Flight], state: str, expected: list[str]
) -> None:
    response = admin_client.get(CHANGELIST, {"state__exact": state})
    assert response.status_code == 200
    assert listed(response) == expected


def test_list_editable_state_saves_and_publishes_only_changed_rows(
    admin_client: Client, board: dict[str, Flight]
) -> None:
    start = Stream.current_id("flights")
    order = ["A123", "D654", "I768", "G119"]
    states = {"A123": "", "D654": "cancelled", "I768": "landed", "G119": ""}
    data = {"form-TOTAL_FORMS": "4", "form-INITIAL_FORMS": "4", "_save": "Save"}
    for n, code in enumerate(order):
        data[f"form-{n}-id"] = str(board[code].pk)
        data[f"form-{n}-state"] = states[code]
    response = admin_client.post(CHANGELIST, data)
    assert response.status_code == 302
    assert dict(Flight.objects.values_list("flight", "state")) == states
    assert [(name, data["flight"], data["state"]) for name, data in flight_events(start)] == [
        ("flightStateUpdate", "D654", "cancelled"),
        ("flightStateUpdate", "I768", "landed"),
    ]


# The admin: adding and changing -------------------------------------------------------------


def add_flight(
    admin_client: Client, code: str, origin: str = "Rome", arrival: str = "10:10", state: str = ""
) -> Any:
    return admin_client.post(ADD, {"flight": code, "origin": origin, "arrival": arrival, "state": state})


def test_adding_a_flight_publishes_the_whole_row(admin_client: Client, db: None) -> None:
    response = add_flight(admin_client, "I768", state="delayed")
    assert response.status_code == 302
    assert flight_events() == [
        (
            "flightStateUpdate",
            {
                "flight": "I768",
                "origin": "Rome",
                "arrival": "10:10",
                "state": "delayed",
                "state_label": "Delayed",
                "terminal": "",
            },
        )
    ]


@pytest.mark.parametrize("code", ["i768", " ba2490 ", "Ab1"])
def test_adding_a_lowercase_code_is_accepted_and_stored_upper_case(
    admin_client: Client, db: None, code: str
) -> None:
    response = add_flight(admin_client, code)
    assert response.status_code == 302
    stored = code.strip().upper()
    assert Flight.objects.get().flight == stored
    assert [data["flight"] for _, data in flight_events()] == [stored]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("ABCDEFGHI", "Ensure this value has at most 8 characters (it has 9)."),
        ("I", "A flight code is 2 to 8 capital letters or digits, like I768 or BA2490."),
        ("I-768", "A flight code is 2 to 8 capital letters or digits, like I768 or BA2490."),
        ("I 768", "A flight code is 2 to 8 capital letters or digits, like I768 or BA2490."),
        ("É768", "A flight code is 2 to 8 capital letters or digits, like I768 or BA2490."),
    ],
)
def test_adding_an_invalid_code_is_refused_with_a_clear_message(
    admin_client: Client, db: None, code: str, message: str
) -> None:
    response = add_flight(admin_client, code)
    assert response.status_code == 200
    assert html.escape(message) in response.content.decode()
    assert not Flight.objects.exists()
    assert not Event.objects.exists()


@pytest.mark.parametrize("code", ["I768", "i768", " I768 "])
def test_adding_a_duplicate_code_is_refused_with_a_clear_message(
    admin_client: Client, db: None, code: str
) -> None:
    make("I768", "Rome", "10:10")
    before = Event.objects.count()
    response = add_flight(admin_client, code, origin="Elsewhere")
    assert response.status_code == 200
    assert "Flight I768 is already on the board." in response.content.decode()
    assert Flight.objects.get().origin == "Rome"
    assert Event.objects.count() == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("arrival", "25:00", "Enter a valid time."),
        ("arrival", "", "This field is required."),
        ("origin", "", "This field is required."),
        ("state", "boarding", "Select a valid choice. boarding is not one of the available choices."),
    ],
)
def test_adding_a_flight_with_other_invalid_fields_is_refused(
    admin_client: Client, db: None, field: str, value: str, message: str
) -> None:
    data = {"flight": "I768", "origin": "Rome", "arrival": "10:10", "state": "", field: value}
    response = admin_client.post(ADD, data)
    assert response.status_code == 200
    assert html.escape(message) in response.content.decode()
    assert not Event.objects.exists()


def test_saving_the_change_form_publishes_a_state_update(
    admin_client: Client, board: dict[str, Flight]
) -> None:
    start = Stream.current_id("flights")
    flight = board["I768"]
    response = admin_client.post(
        f"{CHANGELIST}{flight.pk}/change/",
        # The code is read-only once created: a posted one is ignored.
        {"flight": "X999", "origin": "Roma", "arrival": "10:20", "state": "landed"},
    )
    assert response.status_code == 302
    assert flight_events(start) == [
        (
            "flightStateUpdate",
            {
                "flight": "I768",
                "origin": "Roma",
                "arrival": "10:20",
                "state": "landed",
                "state_label": "Landed",
                "terminal": "",
            },
        )
    ]
    assert not Flight.objects.filter(flight="X999").exists()


def test_change_form_shows_the_code_read_only(admin_client: Client, board: dict[str, Flight]) -> None:
    content = admin_client.get(f"{CHANGELIST}{board['I768'].pk}/change/").content.decode()
    assert 'name="flight"' not in content
    assert 'name="state"' in content


# The admin: actions ----------------------------------------------------------------------------


def act(admin_client: Client, action: str, flights: list[Flight]) -> Any:
    return admin_client.post(
        CHANGELIST,
        {"action": action, ACTION_CHECKBOX_NAME: [str(f.pk) for f in flights], "index": "0"},
        follow=True,
    )


@pytest.mark.parametrize(
    ("action", "state", "label"),
    [("mark_landing", "landing", "Landing"), ("mark_landed", "landed", "Landed")],
)
def test_state_actions_publish_one_event_per_changed_flight(
    admin_client: Client, board: dict[str, Flight], action: str, state: str, label: str
) -> None:
    Flight.objects.filter(flight="G119").update(state=state)  # already there: no change, no event
    start = Stream.current_id("flights")
    selected = [board["A123"], board["I768"], board["G119"]]
    response = act(admin_client, action, selected)
    assert response.status_code == 200
    changed = [code for code in ("A123", "I768", "G119") if board[code].state != state and code != "G119"]
    assert [
        (name, data["flight"], data["state"], data["state_label"]) for name, data in flight_events(start)
    ] == [("flightStateUpdate", code, state, label) for code in changed]
    assert set(Flight.objects.filter(pk__in=[f.pk for f in selected]).values_list("state", flat=True)) == {
        state
    }
    assert Flight.objects.get(flight="D654").state == "delayed"  # not selected
    assert f"{len(changed)} flight(s) marked {label}." in response.content.decode()


def test_remove_from_board_publishes_one_removal_per_flight(
    admin_client: Client, board: dict[str, Flight]
) -> None:
    start = Stream.current_id("flights")
    response = act(admin_client, "remove_from_board", [board["A123"], board["G119"]])
    assert response.status_code == 200
    assert sorted(flight_events(start), key=lambda e: e[1]["flight"]) == [
        ("flightRemoval", {"flight": "A123"}),
        ("flightRemoval", {"flight": "G119"}),
    ]
    assert sorted(Flight.objects.values_list("flight", flat=True)) == ["D654", "I768"]
    assert "Removed 2 flight(s): A123, G119." in response.content.decode()


@pytest.mark.parametrize(
    "codenames", [("view_flight",), ("view_flight", "delete_flight")], ids=["view", "view+delete"]
)
@pytest.mark.parametrize("action", ["mark_landing", "mark_landed"])
def test_state_actions_are_refused_to_staff_without_the_change_permission(
    board: dict[str, Flight], codenames: tuple[str, ...], action: str
) -> None:
    client = staff_client(*codenames)
    changelist = client.get(CHANGELIST)
    assert changelist.status_code == 200
    assert "mark_landing" not in offered_actions(changelist)
    assert "mark_landed" not in offered_actions(changelist)
    assert client.get(f"{CHANGELIST}{board['A123'].pk}/change/").status_code == 200  # read-only view
    snapshot = list(Flight.objects.order_by("pk").values_list("pk", "state", "updated"))
    start = Stream.current_id("flights")
    response = act(client, action, list(board.values()))  # a POST forged without the form
    assert response.status_code == 200
    assert "marked" not in response.content.decode()
    assert list(Flight.objects.order_by("pk").values_list("pk", "state", "updated")) == snapshot
    assert flight_events(start) == []
    assert Stream.current_id("flights") == start


@pytest.mark.parametrize(
    ("codenames", "offered"),
    [
        (("view_flight", "change_flight"), ["mark_landing", "mark_landed"]),
        (("view_flight", "delete_flight"), ["delete_selected", "remove_from_board"]),
        (
            ("view_flight", "change_flight", "delete_flight"),
            ["delete_selected", "mark_landing", "mark_landed", "remove_from_board"],
        ),
    ],
    ids=["view+change", "view+delete", "view+change+delete"],
)
def test_actions_are_offered_to_staff_with_the_permission_each_needs(
    board: dict[str, Flight], codenames: tuple[str, ...], offered: list[str]
) -> None:
    client = staff_client(*codenames)
    assert offered_actions(client.get(CHANGELIST)) == offered
    if "mark_landed" in offered:
        start = Stream.current_id("flights")
        act(client, "mark_landed", [board["A123"]])
        assert [data["flight"] for _, data in flight_events(start)] == ["A123"]
        assert Flight.objects.get(flight="A123").state == "landed"


def test_every_custom_admin_action_of_flightboard_requires_a_permission() -> None:
    # An action with no `permissions` runs for anyone who can see the changelist.
    unguarded = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "flightboard":
            continue
        for action in model_admin.actions or ():
            function = getattr(model_admin, action) if isinstance(action, str) else action
            if not getattr(function, "allowed_permissions", ()):
                unguarded.append(f"{type(model_admin).__name__}.{function.__name__}")
    assert unguarded == []


# The admin: the event log ----------------------------------------------------------------------


@pytest.fixture
def logged_event(db: None) -> Event:
    return publish("flights", "tick", {"n": 1})


@pytest.mark.parametrize("model", ["event", "stream"])
def test_event_log_admin_is_visible_to_staff_but_read_only(
    admin_client: Client, logged_event: Event, model: str
) -> None:
    base = f"/admin/liveevents/{model}/"
    obj = logged_event if model == "event" else logged_event.stream
    changelist = admin_client.get(base)
    assert changelist.status_code == 200
    assert f'href="{base}add/"' not in changelist.content.decode()
    assert admin_client.get(f"{base}add/").status_code == 403
    change = admin_client.get(f"{base}{obj.pk}/change/")
    assert change.status_code == 200  # a read-only view
    assert 'name="_save"' not in change.content.decode()
    assert admin_client.post(f"{base}{obj.pk}/change/", {"event": "edited", "data": "x"}).status_code == 403
    assert admin_client.get(f"{base}{obj.pk}/delete/").status_code == 403
    assert admin_client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.get(pk=logged_event.pk).event == "tick"
    assert Stream.objects.get(name="flights").last_id == 1


def test_event_log_stays_read_only_for_staff_with_every_permission(db: None, logged_event: Event) -> None:
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="liveevents"))
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/liveevents/event/").status_code == 200
    assert client.get("/admin/liveevents/stream/").status_code == 200
    assert client.get("/admin/liveevents/event/add/").status_code == 403
    assert client.get(f"/admin/liveevents/event/{logged_event.pk}/delete/").status_code == 403
    response = client.post(CHANGELIST.replace("flightboard/flight", "liveevents/event"), {
        "action": "delete_selected", ACTION_CHECKBOX_NAME: [str(logged_event.pk)], "post": "yes",
    })  # fmt: skip
    assert Event.objects.filter(pk=logged_event.pk).exists()
    assert response.status_code in (200, 302)


def test_event_log_is_not_visible_to_non_staff(db: None, logged_event: Event) -> None:
    user = User.objects.create_user("user", password="pw")
    client = Client()
    client.force_login(user)
    response = client.get("/admin/liveevents/event/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_event_changelist_filters_by_stream_and_event(admin_client: Client, db: None) -> None:
    publish("flights", "tick")
    publish("announcements", "notice")
    response = admin_client.get("/admin/liveevents/event/", {"stream__name__exact": "announcements"})
    assert response.status_code == 200
    assert [e.event for e in response.context["cl"].result_list] == ["notice"]


# Management commands: seed_flights and simulate_flights --------------------------------------


def test_seed_flights_creates_the_six_tutorial_flights(db: None) -> None:
    output = run("seed_flights")
    assert "6 created" in output
    assert list(Flight.objects.values_list("origin", "flight", "arrival", "state")) == [
        (origin, code, datetime.time.fromisoformat(arrival), "") for origin, code, arrival in TUTORIAL_FLIGHTS
    ]
    assert [code for code in (data["flight"] for _, data in flight_events())] == [
        c for _, c, _ in TUTORIAL_FLIGHTS
    ]
    assert {code for _, code, _ in TUTORIAL_FLIGHTS} == {"A123", "D654", "U213", "A987", "I768", "G119"}


def test_seed_flights_twice_creates_and_publishes_nothing_more(db: None) -> None:
    run("seed_flights")
    Flight.objects.filter(flight="I768").update(state="landing")
    before = Stream.current_id("flights")
    output = run("seed_flights")
    assert "0 created, 0 reset, 6 on the board" in output
    assert Flight.objects.count() == 6
    assert Flight.objects.get(flight="I768").state == "landing"  # left alone without --reset
    assert Stream.current_id("flights") == before


def test_seed_flights_reset_restores_changed_flights_only(db: None) -> None:
    run("seed_flights")
    flight = Flight.objects.get(flight="I768")
    flight.state = "landed"
    flight.save()
    Flight.objects.get(flight="G119").delete()
    make("ZZ99", "Oslo", "07:00", "delayed")
    before = Stream.current_id("flights")
    output = run("seed_flights", "--reset")
    assert "1 created, 1 reset, 7 on the board" in output
    assert [(name, data["flight"], data["state"]) for name, data in flight_events(before)] == [
        ("flightStateUpdate", "I768", ""),
        ("flightStateUpdate", "G119", ""),
    ]
    assert Flight.objects.get(flight="ZZ99").state == "delayed"  # not a tutorial flight
    assert set(Flight.objects.exclude(flight="ZZ99").values_list("state", flat=True)) == {""}


def test_simulate_one_cycle_publishes_landing_landed_removal_and_recreation(db: None) -> None:
    run("seed_flights")
    before = Stream.current_id("flights")
    run("simulate_flights", "--cycles", "1", "--interval", "0")
    row = {"flight": "I768", "origin": "Rome", "arrival": "10:10", "terminal": "2"}
    assert flight_events(before) == [
        ("flightStateUpdate", {**row, "state": "landing", "state_label": "Landing"}),
        ("flightStateUpdate", {**row, "state": "landed", "state_label": "Landed"}),
        ("flightRemoval", {"flight": "I768"}),
        ("flightStateUpdate", {**row, "state": "", "state_label": "Scheduled"}),
    ]
    assert Flight.objects.get(flight="I768").state == ""
    assert Flight.objects.count() == 6


def test_simulate_keeps_the_origin_and_arrival_of_a_flight_already_on_the_board(db: None) -> None:
    make("ZZ99", "Oslo", "07:05")
    before = Stream.current_id("flights")
    run("simulate_flights", "--flight", "ZZ99", "--cycles", "2", "--interval", "0")
    events = flight_events(before)
    assert [name for name, _ in events] == [
        "flightStateUpdate",
        "flightStateUpdate",
        "flightRemoval",
        "flightStateUpdate",
    ] * 2
    assert {(d["origin"], d["arrival"]) for name, d in events if name == "flightStateUpdate"} == {
        ("Oslo", "07:05")
    }
