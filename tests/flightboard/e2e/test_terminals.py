"""Terminal boards and flight pages in Chromium against a real daphne process (see conftest.py):
two terminal boards open while the admin moves a flight between them; a flight's page until the
flight leaves the board."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.flightboard.e2e.daphne_server import DaphneServer
from tests.flightboard.e2e.test_board import admin_page, cell, html, open_change_form, received, row

pytestmark = pytest.mark.browser

_codes = (f"T{n:03d}" for n in itertools.count(100))


def new_code() -> str:
    return next(_codes)


def create_flight(server: DaphneServer, code: str, terminal: str, arrival: str = "09:40") -> None:
    """Create a scheduled flight from another process."""
    server.shell(
        "import datetime\nfrom flightboard.models import Flight\n"
        f"Flight.objects.create(flight={code!r}, origin='Lisbon', "
        f"arrival=datetime.time.fromisoformat({arrival!r}), terminal={terminal!r})\n"
    )


def open_live(new_context: Callable[..., Any], server: DaphneServer, path: str) -> Page:
    page = new_context().new_page()
    page.goto(server.url + path)
    expect(html(page)).to_have_attribute("data-board-status", "live")
    page.evaluate("window.__sameDocument = 'as opened'")
    return page


def move_in_admin(admin: Page, server: DaphneServer, code: str, terminal: str) -> None:
    open_change_form(admin, server, code)
    admin.fill("#id_terminal", terminal)
    admin.click('input[name="_save"]')
    expect(admin.locator("ul.messagelist")).to_contain_text("was changed successfully")


def test_admin_edit_moves_a_flight_between_two_open_terminal_boards(
    server: DaphneServer, new_context: Callable[..., Any]
) -> None:
    code = new_code()
    create_flight(server, code, "1")
    board_1 = open_live(new_context, server, "/terminals/1/")
    # The second board through the first one's links between boards.
    board_2 = new_context().new_page()
    board_2.goto(server.url + "/terminals/1/")
    board_2.get_by_role("navigation", name="Boards").get_by_role("link", name="Terminal 2").click()
    expect(board_2).to_have_url(server.url + "/terminals/2/")
    expect(html(board_2)).to_have_attribute("data-board-status", "live")
    board_2.evaluate("window.__sameDocument = 'as opened'")
    expect(row(board_1, code)).to_have_count(1)
    expect(row(board_2, code)).to_have_count(0)

    admin = admin_page(new_context, server)
    move_in_admin(admin, server, code, "2")

    expect(row(board_1, code)).to_have_count(0)
    expect(board_1.locator("#announcer")).to_have_text(f"{code} removed")
    moved = row(board_2, code)
    expect(moved.locator("td")).to_have_text(["Lisbon", code, "09:40", "Scheduled"])
    expect(moved.locator("td.changed")).to_have_count(4)
    # The row board.js made links to the flight's page, as the rendered ones do.
    expect(cell(board_2, code, "flight").locator("a")).to_have_attribute("href", f"/flights/{code}/")
    # Each board heard exactly its part, over its one connection.
    assert [(e["type"], json.loads(e["data"])) for e in received(board_1)] == [
        ("flightRemoval", {"flight": code})
    ]
    [arrival] = received(board_2)
    assert (arrival["type"], json.loads(arrival["data"])["terminal"]) == ("flightStateUpdate", "2")
    assert arrival["id"].startswith("terminal.2:")

    # And back: off board 2, onto board 1.
    move_in_admin(admin, server, code, "1")
    expect(row(board_2, code)).to_have_count(0)
    expect(row(board_1, code)).to_have_count(1)
    assert [e["type"] for e in received(board_1)] == ["flightRemoval", "flightStateUpdate"]
    assert [e["type"] for e in received(board_2)] == ["flightStateUpdate", "flightRemoval"]
    for board in (board_1, board_2):
        assert board.evaluate("window.__sameDocument") == "as opened", "a board reloaded"
        assert len(board.evaluate("window.__connects")) == 1
        assert re.search(
            r"/events/\?stream=terminal\.[12]&stream=announcements", board.evaluate("window.__connects")[0]
        )


def test_flight_page_follows_its_flight_until_it_leaves_the_board(
    server: DaphneServer, new_context: Callable[..., Any]
) -> None:
    code = new_code()
    create_flight(server, code, "3")
    page = new_context().new_page()
    page.goto(server.url + "/terminals/3/")
    cell(page, code, "flight").get_by_role("link", name=code).click()
    expect(page).to_have_url(f"{server.url}/flights/{code}/")
    expect(html(page)).to_have_attribute("data-board-status", "live")
    expect(row(page, code).locator("td")).to_have_text(["Lisbon", code, "09:40", "3", "Scheduled"])

    server.shell(
        "from flightboard.models import Flight\n"
        f"f = Flight.objects.get(flight={code!r}); f.state = 'landing'; f.terminal = '1'; f.save()\n"
    )
    expect(cell(page, code, "state")).to_have_text("Landing")
    expect(cell(page, code, "terminal")).to_have_text("1")

    server.shell(f"from flightboard.models import Flight\nFlight.objects.get(flight={code!r}).delete()\n")
    expect(row(page, code)).to_have_count(0)
    expect(page.locator("#no-flights")).to_be_visible()
    expect(page.locator("#no-flights")).to_have_text(f"Flight {code} has left the board.")
    assert [e["type"] for e in received(page)] == ["flightStateUpdate", "flightRemoval"]
    assert all(e["id"].startswith(f"flight.{code}:") for e in received(page))
