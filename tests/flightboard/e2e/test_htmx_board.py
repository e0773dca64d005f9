"""The htmx board (/htmx/) in Chromium against a real daphne: htmx, its SSE extension and
liveevents-htmx.js, with no script of the site's own. Admin edits, the ticker, a server restart,
the connection cap and hostile values; no page error (and, as in every browser test, no
Content-Security-Policy violation: conftest.new_context)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from liveevents.cursor import parse_cursor
from tests.flightboard.e2e.daphne_server import DaphneServer
from tests.flightboard.e2e.test_board import (
    HOSTILE,
    SEEDED,
    admin_page,
    cell,
    create_flights,
    new_code,
    open_change_form,
    received,
    row,
    set_states,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

POLICY = "default-src 'self'"


# What a page may log as an error while its server restarts or refuses it: the browser's word on
# a refused or broken request, and htmx's on an EventSource's error event (it logs the Event).
EXPECTED_CONSOLE_ERRORS = re.compile(r"Failed to load resource: |\[object Event\]$")


@pytest.fixture
def page_errors() -> Iterator[list[str]]:
    """The errors of the boards opened by open_htmx_board: uncaught ones, and the ones htmx caught
    and logged (an extension that throws); the test fails if there was any."""
    errors: list[str] = []
    yield errors
    assert errors == [], f"page errors: {errors}"


@pytest.fixture
def open_htmx_board(
    new_context: Callable[..., Any], page_errors: list[str]
) -> Callable[[DaphneServer], Page]:
    def console_error(message: Any) -> None:
        if message.type == "error" and not EXPECTED_CONSOLE_ERRORS.match(message.text):
            page_errors.append(f"console: {message.text}")

    def open_board(server: DaphneServer, *, live: bool = True) -> Page:
        page = new_context().new_page()
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.on("console", console_error)
        response = page.goto(server.url + "/htmx/")
        assert response is not None and response.status == 200
        assert POLICY in (response.header_value("content-security-policy") or "")
        if live:
            expect(status(page)).to_have_attribute("data-live-status", "live")
        page.evaluate("window.__sameDocument = true")
        return page

    return open_board


def status(page: Page) -> Any:
    return page.locator("main#board")


def shown_status(page: Page) -> Any:
    """The connection's status as shown: the one text of #connection that the CSS lets through."""
    return page.locator("#connection .connection-text:visible")


def rows_id(event: dict[str, Any]) -> int:
    """The flights-html position of a received event (its id is the connection's cursor)."""
    return parse_cursor(event["id"])["flights-html"]


def rendered_position(page: Page) -> int:
    """The flights-html position the page was rendered at (sse-connect's lastEventId)."""
    url = status(page).get_attribute("sse-connect") or ""
    return parse_cursor(parse_qs(urlsplit(url).query)["lastEventId"][0])["flights-html"]


def rows_events(page: Page) -> list[dict[str, Any]]:
    return [event for event in received(page) if event["type"] == "flightRows"]


def last_position(page: Page) -> int:
    """The flights-html position of the last flightRows event the page received."""
    return rows_id(rows_events(page)[-1])


def wait_for(page: Page, condition: Callable[[], bool], timeout_ms: int = 15_000) -> None:
    """Let the page run until `condition()` holds (events reach Python while Playwright waits)."""
    for _ in range(timeout_ms // 100):
        if condition():
            return
        page.wait_for_timeout(100)
    assert condition(), "timed out"


def board_codes(page: Page) -> list[str]:
    return page.evaluate(
        "[...document.querySelectorAll('#flights tbody tr[data-flight]')].map((tr) => tr.dataset.flight)"
    )


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"


def scripts(page: Page) -> list[str]:
    return page.evaluate(
        "[...document.scripts].map((s) => new URL(s.src).pathname.replace(/\\.[0-9a-f]{12}\\.js$/, '.js'))"
    )


# Tests


def test_admin_edits_reach_the_htmx_board(
    server: DaphneServer, new_context: Callable[..., Any], open_htmx_board: Callable[..., Page]
) -> None:
    code = new_code()
    create_flights(server, (code, "Lisbon", "09:40", ""))
    board = open_htmx_board(server)
    # htmx, its SSE extension and liveevents' extension: nothing of the site's own.
    assert scripts(board) == [
        "/static/vendor/htmx/htmx.min.js",
        "/static/vendor/htmx/sse.min.js",
        "/static/liveevents/liveevents-htmx.js",
    ]
    expect(cell(board, code, "state")).to_have_text("Scheduled")
    admin = admin_page(new_context, server)

    # An edit: the row changes where it is, its cells glow, the live region says what changed.
    open_change_form(admin, server, code)
    admin.select_option("#id_state", "landed")
    admin.click('input[name="_save"]')
    expect(admin.locator("ul.messagelist")).to_contain_text("was changed successfully")
    state = cell(board, code, "state")
    expect(state).to_have_text("Landed")
    expect(state).to_have_attribute("data-state", "landed")
    expect(state).to_have_class(re.compile(r"\bchanged\b"))
    expect(board.locator("#announcer")).to_have_text(f"{code} from Lisbon: Landed")

    # An addition: in arrival order, between New York (09:05) and Buenos Aires (09:30).
    added = new_code()
    admin.goto(server.url + "/admin/flightboard/flight/add/")
    admin.fill("#id_flight", added)
    admin.fill("#id_origin", "Oslo")
    admin.fill("#id_arrival", "09:17")
    admin.select_option("#id_state", "delayed")
    admin.click('input[name="_save"]')
    expect(admin.locator("ul.messagelist")).to_contain_text("was added successfully")
    expect(row(board, added).locator("td")).to_have_text(["Oslo", added, "09:17", "Delayed"])
    codes = board_codes(board)
    assert codes.index("U213") < codes.index(added) < codes.index("A987") < codes.index(code), codes

    # A removal.
    open_change_form(admin, server, added)
    admin.click("a.deletelink")
    admin.click('input[type="submit"]')
    expect(admin.locator("ul.messagelist")).to_contain_text("was deleted successfully")
    expect(row(board, added)).to_have_count(0)
    expect(board.locator("#announcer")).to_have_text(f"{added} removed")
    for _, seeded, _ in SEEDED:
        expect(row(board, seeded)).to_have_count(1)

    assert [event["type"] for event in received(board)] == ["flightRows"] * 3
    expect(status(board)).to_have_attribute("data-live-status", "live")
    expect(shown_status(board)).to_have_text("Live")
    assert_same_document(board)


def test_announcements_reach_the_htmx_ticker(
    server: DaphneServer, new_context: Callable[..., Any], open_htmx_board: Callable[..., Page]
) -> None:
    board = open_htmx_board(server)
    admin = admin_page(new_context, server)
    admin.goto(server.url + "/admin/flightboard/announcement/add/")
    admin.fill("#id_text", "Gate change for I768: now <B12>")
    admin.locator('input[name="_save"]').click()
    expect(admin.locator(".messagelist .success")).to_be_visible()
    item = board.locator("#announcement-list li", has_text="Gate change for I768: now <B12>")
    expect(item).to_be_visible()
    assert item.locator("b12").count() == 0  # text, not markup
    assert [event["type"] for event in received(board)] == ["tickerItems"]
    assert_same_document(board)


def test_hostile_values_arrive_as_text(server: DaphneServer, open_htmx_board: Callable[..., Page]) -> None:
    code = new_code()
    board = open_htmx_board(server)
    create_flights(server, (code, HOSTILE, "12:00", ""))
    origin = cell(board, code, "origin")
    expect(origin).to_have_count(1)
    # The HTML parser makes one line ending of CR and CRLF, in a fragment as in a page.
    assert origin.evaluate("td => td.textContent") == HOSTILE.replace("\r\n", "\n").replace("\r", "\n")
    assert origin.evaluate("td => td.childElementCount") == 0
    expect(board.locator("img")).to_have_count(0)
    board.wait_for_timeout(300)  # time for an injected onerror handler to run
    assert board.evaluate("typeof window.__pwned") == "undefined"


@pytest.mark.parametrize("signal", ["SIGTERM", "SIGKILL"])
def test_a_server_restart_catches_up_with_every_change_in_order_without_a_reload(
    make_server: Callable[[], DaphneServer], open_htmx_board: Callable[..., Page], signal: str
) -> None:
    server = make_server()  # its own process: this test stops it
    board = open_htmx_board(server)
    set_states(server, ("A123", "landing"))
    expect(cell(board, "A123", "state")).to_have_text("Landing")
    before = last_position(board)  # the page has seen an event: its position is no longer the rendered one
    assert before == rendered_position(board) + 1

    server.stop(kill=signal == "SIGKILL")
    expect(status(board)).to_have_attribute("data-live-status", "offline")
    expect(shown_status(board)).to_have_text("Offline, reconnecting")
    expect(board.locator("#offline-notice")).to_be_visible()
    changes = [("D654", "landed"), ("U213", "delayed"), ("A987", "cancelled"), ("I768", "diverted")]
    set_states(server, *changes, remove=("G119",))
    after = before + 5
    server.start()

    expect(status(board)).to_have_attribute("data-live-status", "live", timeout=40_000)
    expect(row(board, "G119")).to_have_count(0, timeout=20_000)
    for code, state in changes:
        expect(cell(board, code, "state")).to_have_text(state.capitalize())
    expect(board.locator("#offline-notice")).to_be_hidden()
    # Every change once, in order: the one before the stop, then the five made meanwhile.
    ids = [rows_id(event) for event in rows_events(board)]
    assert ids == list(range(before, after + 1)), f"missing, repeated or out of order: {ids}"
    assert_same_document(board)


def test_a_reconnect_refused_by_the_connection_cap_resumes_after_the_last_event(
    make_server: Callable[[], DaphneServer],
    new_context: Callable[..., Any],
    open_htmx_board: Callable[..., Page],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVEEVENTS_CONFIG", json.dumps({"MAX_CONNECTIONS": 1, "RETRY_AFTER": 1}))
    server = make_server()
    board = open_htmx_board(server)
    refusals: list[str] = []
    board.on(
        "response", lambda r: refusals.append(r.url) if "/events/" in r.url and r.status == 503 else None
    )
    set_states(server, ("A123", "landing"))
    expect(cell(board, "A123", "state")).to_have_text("Landing")
    seen = last_position(board)

    # The connection breaks (a network error), and the board cannot reconnect until another page
    # holds the only connection: its next try is refused with 503.
    board.route("**/events/**", lambda route: route.abort())
    server.stop(kill=True)
    expect(status(board)).to_have_attribute("data-live-status", "offline")
    set_states(server, ("D654", "landed"), ("U213", "delayed"))
    after = seen + 2
    server.start()
    holder = new_context().new_page()
    holder.goto(server.url + "/")  # the board with its own script takes the only connection
    expect(holder.locator("html")).to_have_attribute("data-board-status", "live")
    board.unroute("**/events/**")
    wait_for(board, lambda: bool(refusals))
    expect(status(board)).to_have_attribute("data-live-status", "offline")

    holder.locator("#toggle-updates").click()  # frees the only connection
    expect(status(board)).to_have_attribute("data-live-status", "live", timeout=20_000)
    expect(cell(board, "U213", "state")).to_have_text("Delayed")
    expect(cell(board, "D654", "state")).to_have_text("Landed")
    # Exactly once: the refused 503 made the SSE extension open a new EventSource, without the
    # browser's Last-Event-ID; liveevents-htmx.js had written the last id into its URL.
    ids = [rows_id(event) for event in rows_events(board)]
    assert ids == list(range(seen, after + 1)), f"missing, repeated or out of order: {ids}"
    resumed = board.evaluate("window.__connects")[-1]
    assert re.search(rf"lastEventId=flights-html%3A{seen}%2C", resumed), resumed
    assert_same_document(board)


def test_a_board_opened_over_the_connection_cap_catches_up_once_let_in(
    make_server: Callable[[], DaphneServer],
    new_context: Callable[..., Any],
    open_htmx_board: Callable[..., Page],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVEEVENTS_CONFIG", json.dumps({"MAX_CONNECTIONS": 1, "RETRY_AFTER": 1}))
    server = make_server()
    holder = new_context().new_page()
    holder.goto(server.url + "/")
    expect(holder.locator("html")).to_have_attribute("data-board-status", "live")

    board = open_htmx_board(server, live=False)
    expect(status(board)).to_have_attribute("data-live-status", "offline")  # 503
    set_states(server, ("G119", "landing"), ("I768", "landed"))
    board.wait_for_timeout(1000)
    expect(cell(board, "G119", "state")).to_have_text("Scheduled")

    holder.locator("#toggle-updates").click()
    expect(status(board)).to_have_attribute("data-live-status", "live", timeout=20_000)
    # From the position rendered with the page, in sse-connect: the changes made meanwhile.
    expect(cell(board, "G119", "state")).to_have_text("Landing")
    expect(cell(board, "I768", "state")).to_have_text("Landed")
    rendered = rendered_position(board)
    ids = [rows_id(event) for event in rows_events(board)]
    assert ids == [rendered + 1, rendered + 2], ids
    assert len(board.evaluate("window.__connects")) >= 2  # refused, then let in
    assert_same_document(board)


def test_the_htmx_board_without_javascript_is_a_static_page(
    server: DaphneServer, new_context: Callable[..., Any]
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(server.url + "/htmx/")
    expect(shown_status(page)).to_have_text("Static")
    expect(page.locator("#offline-notice")).to_be_hidden()
    for origin, code, arrival in SEEDED:
        expect(row(page, code).locator("td")).to_have_text([origin, code, arrival, re.compile(".+")])
    assert status(page).get_attribute("data-live-status") is None


def test_a_board_whose_position_was_pruned_reloads_and_shows_the_current_rows(
    make_server: Callable[[], DaphneServer], open_htmx_board: Callable[..., Page]
) -> None:
    server = make_server()  # its own process and log: this test stops it and prunes the log
    board = open_htmx_board(server)
    server.stop()
    # Meanwhile a flight lands, and every event after the board's position is pruned.
    set_states(server, ("D654", "landed"))
    server.shell(
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from liveevents.models import Event\n"
        "Event.objects.update(created=timezone.now() - timedelta(days=30))\n"
    )
    server.manage("prune_events", "--days", "1")
    server.start()
    # streamReset: liveevents-htmx.js reloads the page, which renders the rows as they are.
    board.wait_for_function("() => window.__sameDocument === undefined", timeout=30_000)
    expect(cell(board, "D654", "state")).to_have_text("Landed")
    expect(status(board)).to_have_attribute("data-live-status", "live")


def test_closing_both_streams_ends_the_updates_without_reconnecting(
    server: DaphneServer, open_htmx_board: Callable[..., Page]
) -> None:
    board = open_htmx_board(server)
    try:
        server.manage("close_stream", "flights-html")
        # The ticker's stream goes on over the same connection.
        server.shell(
            "from flightboard.models import Announcement\nAnnouncement.objects.create(text='Belt 4 open')"
        )
        expect(board.locator("#announcement-list li", has_text="Belt 4 open")).to_be_visible()
        expect(status(board)).to_have_attribute("data-live-status", "live")

        server.manage("close_stream", "announcements-html")
        expect(status(board)).to_have_attribute("data-live-status", "closed")
        expect(shown_status(board)).to_have_text("Updates ended")
        connects = len(board.evaluate("window.__connects"))
        board.wait_for_timeout(3000)  # longer than the browser's and the SSE extension's first retry
        assert len(board.evaluate("window.__connects")) == connects
        expect(status(board)).to_have_attribute("data-live-status", "closed")
        assert [e["type"] for e in received(board)] == ["closedConnection", "tickerItems", "closedConnection"]
    finally:
        server.manage("open_stream", "flights-html")
        server.manage("open_stream", "announcements-html")
    open_htmx_board(server)  # reopened: a new board goes live
