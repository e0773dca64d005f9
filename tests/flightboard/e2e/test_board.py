"""The arrivals board in a real browser against a real daphne process (see conftest.py)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from liveevents.cursor import parse_cursor
from tests.flightboard.e2e.daphne_server import DaphneServer

pytestmark = pytest.mark.browser

SEEDED = [  # seed_flights: (origin, code, arrival), in board order
    ("London", "A123", "08:15"),
    ("Berlin", "D654", "08:45"),
    ("New York", "U213", "09:05"),
    ("Buenos Aires", "A987", "09:30"),
    ("Rome", "I768", "10:10"),
    ("Tokyo", "G119", "10:35"),
]
_codes = (f"E{n:03d}" for n in itertools.count(100))


def new_code() -> str:
    """A flight code no other test uses, so tests do not depend on each other's flight states."""
    return next(_codes)


# Helpers: the board


def html(page: Page) -> Any:
    return page.locator("html")


def row(page: Page, code: str) -> Any:
    return page.locator(f'#flights tbody tr[data-flight="{code}"]')


def cell(page: Page, code: str, field: str) -> Any:
    return row(page, code).locator(f'td[data-field="{field}"]')


def open_board(new_context: Callable[..., Any], server: DaphneServer) -> Page:
    page = new_context().new_page()
    page.goto(server.url + "/")
    expect(html(page)).to_have_attribute("data-board-status", "live")
    return page


def flights_id(cursor: str) -> int:
    """The flights stream's position in a cursor (`flights:12,announcements:3`)."""
    return parse_cursor(cursor)["flights"]


def last_event_id(page: Page) -> int:
    """Where the board stands in the flights stream."""
    return flights_id(page.evaluate("document.documentElement.dataset.lastEventId"))


def at_flight(event_id: int) -> re.Pattern[str]:
    """The board's data-last-event-id once it stands at `event_id` of the flights stream."""
    return re.compile(rf"(^|,)flights:{event_id}(,|$)")


def received(page: Page) -> list[dict[str, Any]]:
    """Events the page's EventSources received, in order (recorded by conftest.RECORD_EVENTS)."""
    return page.evaluate("window.__received")


def board_rows(page: Page) -> list[tuple[str, str]]:
    return [
        tuple(pair)
        for pair in page.evaluate(
            """() => [...document.querySelectorAll('#flights tbody tr[data-flight]')].map((tr) => [
                 tr.querySelector('td[data-field="arrival"]').textContent.trim(), tr.dataset.flight,
               ])"""
        )
    ]


# Helpers: writes from another process (manage.py shell), which print the stream's head after


HEAD = "\nfrom liveevents.models import Stream\nprint('HEAD', Stream.current_id('flights'))\n"


def head_of(output: str) -> int:
    return int(re.search(r"^HEAD (\d+)$", output, re.MULTILINE).group(1))  # type: ignore[union-attr]


def create_flights(server: DaphneServer, *flights: tuple[str, str, str, str]) -> int:
    """Create (code, origin, HH:MM, state) flights from another process; return the stream's head."""
    code = "import datetime\nfrom flightboard.models import Flight\n"
    for flight, origin, arrival, state in flights:
        code += (
            f"Flight.objects.create(flight={flight!r}, origin={origin!r}, "
            f"arrival=datetime.time.fromisoformat({arrival!r}), state={state!r})\n"
        )
    return head_of(server.shell(code + HEAD))


def set_states(server: DaphneServer, *changes: tuple[str, str], remove: tuple[str, ...] = ()) -> int:
    """Save each (code, state) in turn, then delete `remove`, each in its own transaction, from
    another process; return the stream's head."""
    code = "from flightboard.models import Flight\n"
    for flight, state in changes:
        code += f"f = Flight.objects.get(flight={flight!r}); f.state = {state!r}; f.save()\n"
    for flight in remove:
        code += f"Flight.objects.get(flight={flight!r}).delete()\n"
    return head_of(server.shell(code + HEAD))


# Helpers: the admin, in its own browser context


def admin_page(new_context: Callable[..., Any], server: DaphneServer) -> Page:
    page = new_context().new_page()
    page.goto(server.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", server.password)
    page.click('input[type="submit"]')
    expect(page).to_have_url(server.url + "/admin/")
    return page


def open_change_form(admin: Page, server: DaphneServer, code: str) -> None:
    admin.goto(f"{server.url}/admin/flightboard/flight/?q={code}")
    admin.locator("#result_list th.field-flight a", has_text=re.compile(f"^{code}$")).click()
    expect(admin).to_have_url(re.compile(r"/admin/flightboard/flight/\d+/change/(\?|$)"))
    expect(admin.locator(".field-flight .readonly")).to_have_text(code)


# Tests


def test_admin_edit_reaches_open_board(server: DaphneServer, new_context: Callable[..., Any]) -> None:
    code = new_code()
    create_flights(server, (code, "Lisbon", "09:40", ""))
    board = open_board(new_context, server)
    expect(cell(board, code, "state")).to_have_text("Scheduled")
    board.evaluate("window.__sameDocument = 'before the edit'")

    admin = admin_page(new_context, server)
    open_change_form(admin, server, code)
    admin.select_option("#id_state", "landed")
    admin.click('input[name="_save"]')
    expect(admin.locator("ul.messagelist")).to_contain_text("was changed successfully")

    state = cell(board, code, "state")
    expect(state).to_have_text("Landed")
    expect(state).to_have_attribute("data-state", "landed")
    expect(state).to_have_class(re.compile(r"\bchanged\b"))
    expect(cell(board, code, "origin")).not_to_have_class(re.compile(r"\bchanged\b"))
    expect(board.locator("#announcer")).to_have_text(f"{code} from Lisbon: Landed")
    assert board.evaluate("window.__sameDocument") == "before the edit", "the board reloaded"
    assert [e["type"] for e in received(board)] == ["flightStateUpdate"]


def test_admin_add_inserts_row_in_arrival_order(
    server: DaphneServer, new_context: Callable[..., Any]
) -> None:
    code = new_code()
    board = open_board(new_context, server)
    board.evaluate("window.__sameDocument = 'before the add'")
    assert row(board, code).count() == 0

    admin = admin_page(new_context, server)
    admin.goto(server.url + "/admin/flightboard/flight/add/")
    admin.fill("#id_flight", code.lower())  # the form upper-cases the code
    admin.fill("#id_origin", "Oslo")
    admin.fill("#id_arrival", "09:17")
    admin.select_option("#id_state", "delayed")
    admin.click('input[name="_save"]')
    expect(admin.locator("ul.messagelist")).to_contain_text("was added successfully")

    added = row(board, code)
    expect(added).to_have_count(1)
    expect(added.locator("td")).to_have_text(["Oslo", code, "09:17", "Delayed"])
    expect(cell(board, code, "state")).to_have_attribute("data-state", "delayed")
    expect(added.locator("td.changed")).to_have_count(4)
    # In arrival order: between New York (09:05) and Buenos Aires (09:30), not appended at the end.
    order = board_rows(board)
    assert order == sorted(order), order
    codes = [c for _, c in order]
    assert codes.index("U213") < codes.index(code) < codes.index("A987"), codes
    assert board.evaluate("window.__sameDocument") == "before the add", "the board reloaded"


@pytest.mark.parametrize("how", ["delete_view", "remove_from_board_action"])
def test_admin_delete_removes_row(server: DaphneServer, new_context: Callable[..., Any], how: str) -> None:
    code = new_code()
    create_flights(server, (code, "Madrid", "11:05", "cancelled"))
    board = open_board(new_context, server)
    expect(row(board, code)).to_have_count(1)

    admin = admin_page(new_context, server)
    if how == "delete_view":
        open_change_form(admin, server, code)
        admin.click("a.deletelink")
        admin.click('input[type="submit"]')  # "Yes, I'm sure"
        expect(admin.locator("ul.messagelist")).to_contain_text("was deleted successfully")
    else:
        admin.goto(f"{server.url}/admin/flightboard/flight/?q={code}")
        admin.locator("#result_list input.action-select").check()
        admin.select_option('select[name="action"]', "remove_from_board")
        admin.click('button[name="index"]')
        expect(admin.locator("ul.messagelist")).to_contain_text(f"Removed 1 flight(s): {code}.")

    expect(row(board, code)).to_have_count(0)
    expect(board.locator("#announcer")).to_have_text(f"{code} removed")
    assert [e["type"] for e in received(board)] == ["flightRemoval"]
    assert json.loads(received(board)[0]["data"]) == {"flight": code}
    for _, seeded, _ in SEEDED:
        expect(row(board, seeded)).to_have_count(1)


def test_stop_halts_updates_and_resume_catches_up(
    server: DaphneServer, new_context: Callable[..., Any]
) -> None:
    first, second = new_code(), new_code()
    create_flights(server, (first, "Paris", "07:10", ""), (second, "Vienna", "07:20", ""))
    board = open_board(new_context, server)
    before = last_event_id(board)
    toggle = board.locator("#toggle-updates")
    expect(toggle).to_have_text("Stop updates")

    toggle.click()
    expect(html(board)).to_have_attribute("data-board-status", "stopped")
    expect(toggle).to_have_text("Resume updates")
    expect(board.locator("#connection .connection-text")).to_have_text("Stopped")

    head = set_states(server, (first, "landing"), (second, "diverted"))
    assert head == before + 2
    board.wait_for_timeout(2500)  # more than two of the hub's 1 s log checks: a live board would update
    expect(cell(board, first, "state")).to_have_text("Scheduled")
    expect(cell(board, second, "state")).to_have_text("Scheduled")
    assert last_event_id(board) == before
    assert received(board) == []

    toggle.click()
    expect(html(board)).to_have_attribute("data-board-status", "live")
    expect(toggle).to_have_text("Stop updates")
    expect(cell(board, first, "state")).to_have_text("Landing")
    expect(cell(board, second, "state")).to_have_text("Diverted")
    expect(html(board)).to_have_attribute("data-last-event-id", at_flight(head))
    events = received(board)
    assert [(e["type"], flights_id(e["id"]), json.loads(e["data"])["flight"]) for e in events] == [
        ("flightStateUpdate", before + 1, first),
        ("flightStateUpdate", before + 2, second),
    ]
    # Resume reconnected from the last id it had seen.
    resumed = parse_qs(urlsplit(board.evaluate("window.__connects")[-1]).query)
    assert flights_id(resumed["lastEventId"][0]) == before
    assert resumed["stream"] == ["flights", "announcements"]


@pytest.mark.parametrize("signal", ["SIGTERM", "SIGKILL"])
def test_server_restart_reconnects_and_replays_missed_events_in_order(
    make_server: Callable[[], DaphneServer], new_context: Callable[..., Any], signal: str
) -> None:
    server = make_server()  # its own process: this test stops it
    board = open_board(new_context, server)
    before = last_event_id(board)
    board.evaluate("window.__sameDocument = 'before the restart'")

    server.stop(kill=signal == "SIGKILL")
    expect(html(board)).to_have_attribute("data-board-status", "reconnecting")

    changes = [
        ("A123", "landing"),
        ("D654", "landed"),
        ("U213", "delayed"),
        ("A987", "cancelled"),
        ("I768", "diverted"),
    ]
    head = set_states(server, *changes, remove=("G119",))
    assert head == before + 6
    server.start()

    expect(html(board)).to_have_attribute("data-last-event-id", at_flight(head), timeout=30_000)
    expect(html(board)).to_have_attribute("data-board-status", "live")
    for code, state in changes:
        expect(cell(board, code, "state")).to_have_text(state.capitalize())
        expect(cell(board, code, "state")).to_have_attribute("data-state", state)
    expect(row(board, "G119")).to_have_count(0)

    events = received(board)
    ids = [flights_id(e["id"]) for e in events]
    assert ids == list(range(before + 1, head + 1)), f"missing, repeated or out of order: {ids}"
    assert [(e["type"], json.loads(e["data"])["flight"]) for e in events] == [
        *(("flightStateUpdate", code) for code, _ in changes),
        ("flightRemoval", "G119"),
    ]
    assert board.evaluate("window.__sameDocument") == "before the restart", "the board reloaded"


def test_close_stream_stops_board(server: DaphneServer, new_context: Callable[..., Any]) -> None:
    board = open_board(new_context, server)
    toggle = board.locator("#toggle-updates")
    try:
        server.manage("close_stream", "flights")
        expect(board.locator("#notice")).to_be_visible()
        expect(board.locator("#notice")).to_have_text("Updates ended")
        expect(html(board)).to_have_attribute("data-board-status", "stopped")
        expect(board.locator("#connection .connection-text")).to_have_text("Stopped (closed by server)")
        expect(toggle).to_be_disabled()
        expect(toggle).to_have_text("Updates ended")
        assert [e["type"] for e in received(board)] == ["closedConnection"]

        # A board opened while the stream is closed gets 204 and stops too, without retrying.
        late = new_context().new_page()
        late.goto(server.url + "/")
        expect(html(late)).to_have_attribute("data-board-status", "stopped")
        expect(late.locator("#notice")).to_have_text("Updates ended")
        expect(late.locator("#toggle-updates")).to_be_disabled()
    finally:
        server.manage("open_stream", "flights")
    open_board(new_context, server)  # reopened: a new board goes live


HOSTILE = '</script><img src=x onerror="window.__pwned=1">\r\nCR\rLF\nend'


def test_hostile_values_are_shown_as_text(server: DaphneServer, new_context: Callable[..., Any]) -> None:
    code = new_code()
    board = open_board(new_context, server)

    def assert_inert(expected_origin: str) -> None:
        origin = cell(board, code, "origin")
        expect(origin).to_have_count(1)
        assert origin.evaluate("td => td.textContent") == expected_origin
        assert origin.evaluate("td => td.childElementCount") == 0
        expect(board.locator("img")).to_have_count(0)
        expect(board.locator("#flights script")).to_have_count(0)
        board.wait_for_timeout(300)  # give an injected onerror handler time to run
        assert board.evaluate("typeof window.__pwned") == "undefined"

    # Live: the row arrives in an event and is inserted with textContent.
    create_flights(server, (code, HOSTILE, "12:00", ""))
    expect(row(board, code)).to_have_count(1)
    assert_inert(HOSTILE)
    assert board.locator("#announcer").evaluate("el => el.textContent") == f"{code} from {HOSTILE}: Scheduled"

    # Server-rendered: escaped by the template (the HTML parser turns CR and CRLF into LF).
    board.reload()
    expect(html(board)).to_have_attribute("data-board-status", "live")
    assert_inert(HOSTILE.replace("\r\n", "\n").replace("\r", "\n"))


# (before, after): values equal once trimmed, different as text.
WHITESPACE_EDITS = [
    ("Rome ", "Rome"),
    ("\u00a0Rome", "Rome"),
    ("Rome\u3000", "Rome"),
    ("Rome", " Rome\t"),
    ("Rome", "Rome\u00a0"),
]


def set_origins(server: DaphneServer, *changes: tuple[str, str]) -> int:
    """Save each (code, origin) in turn from another process; return the stream's head."""
    code = "from flightboard.models import Flight\n"
    for flight, origin in changes:
        code += f"f = Flight.objects.get(flight={flight!r}); f.origin = {origin!r}; f.save()\n"
    return head_of(server.shell(code + HEAD))


def origins(page: Page, codes: list[str]) -> dict[str, str]:
    return {code: cell(page, code, "origin").evaluate("td => td.textContent") for code in codes}


def test_live_values_are_shown_exactly_as_sent_and_as_a_fresh_page_shows_them(
    server: DaphneServer, new_context: Callable[..., Any]
) -> None:
    edits = [(new_code(), before, after) for before, after in WHITESPACE_EDITS]
    codes = [code for code, _, _ in edits]
    create_flights(server, *((code, before, "05:30", "") for code, before, _ in edits))
    board = open_board(new_context, server)
    assert origins(board, codes) == {code: before for code, before, _ in edits}

    head = set_origins(server, *((code, after) for code, _, after in edits))
    expect(html(board)).to_have_attribute("data-last-event-id", at_flight(head))
    expected = {code: after for code, _, after in edits}
    assert origins(board, codes) == expected
    for code in codes:
        expect(cell(board, code, "origin")).to_have_class(re.compile(r"\bchanged\b"))

    # A row the board adds keeps its whitespace too.
    added = new_code()
    head = create_flights(server, (added, "\u3000Oslo ", "05:40", ""))
    expect(html(board)).to_have_attribute("data-last-event-id", at_flight(head))
    expected[added] = "\u3000Oslo "

    fresh = open_board(new_context, server)
    assert origins(fresh, [*codes, added]) == origins(board, [*codes, added]) == expected


def test_board_works_without_javascript(server: DaphneServer, new_context: Callable[..., Any]) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(server.url + "/")
    expect(page.locator("#connection .connection-text")).to_have_text("Static")
    expect(page.locator("#toggle-updates")).to_be_hidden()
    for origin, code, arrival in SEEDED:
        expect(row(page, code).locator("td")).to_have_text([origin, code, arrival, "Scheduled"])
    codes = [code for _, code, _ in SEEDED]
    rendered = page.locator("#flights tbody tr[data-flight]")
    all_codes = rendered.evaluate_all("rows => rows.map((r) => r.dataset.flight)")
    seeded_order = [c for c in all_codes if c in codes]
    assert seeded_order == codes
    assert page.locator("html").get_attribute("data-board-status") is None
