"""The arrivals board and its announcements ticker in Chromium: one EventSource for both streams,
admin edits on the ticker, and a server restart with both streams replayed in order."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from liveevents.cursor import parse_cursor
from tests.flightboard.e2e.daphne_server import DaphneServer
from tests.flightboard.e2e.test_board import admin_page, at_flight, cell, html, received, row, set_states

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def ticker_texts(page: Page) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll('#announcement-list li [data-field=\"text\"]')]"
        ".map((span) => span.textContent)"
    )


def open_counting_board(new_context: Callable[..., Any], server: DaphneServer) -> tuple[Page, list[str]]:
    """The board, live, and the URLs of every stream request it makes (from the first one on)."""
    page = new_context().new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url) if "/events/" in request.url else None)
    page.goto(server.url + "/")
    expect(html(page)).to_have_attribute("data-board-status", "live")
    return page, requests


def announce(server: DaphneServer, *statements: str) -> dict[str, int]:
    """Run ORM statements on announcements from another process; return both streams' heads."""
    code = "from flightboard.models import Announcement as A\n" + "\n".join(statements) + "\n"
    code += "from liveevents.models import Stream\n"
    code += "print('HEADS', Stream.current_id('flights'), Stream.current_id('announcements'))\n"
    found = re.search(r"^HEADS (\d+) (\d+)$", server.shell(code), re.MULTILINE)
    assert found, "the shell printed no heads"
    return {"flights": int(found.group(1)), "announcements": int(found.group(2))}


def test_board_and_ticker_share_one_stream_request(
    server: DaphneServer, new_context: Callable[..., Any]
) -> None:
    board, requests = open_counting_board(new_context, server)
    admin = admin_page(new_context, server)

    # An announcement added in the admin (inside daphne) appears on the open board.
    admin.goto(server.url + "/admin/flightboard/announcement/add/")
    admin.fill("#id_text", "Gate change for I768: now B12")
    admin.locator('input[name="_save"]').click()
    expect(admin.locator(".messagelist .success")).to_be_visible()
    expect(board.locator("#announcement-list li", has_text="Gate change for I768: now B12")).to_be_visible()

    # A flight change arrives over the same connection.
    set_states(server, ("A123", "delayed"))
    expect(cell(board, "A123", "state")).to_have_text("Delayed")

    assert len(requests) == 1, requests
    assert requests[0].startswith(server.url + "/events/?stream=flights&stream=announcements")
    assert len(board.evaluate("window.__connects")) == 1
    kinds = [e["type"] for e in received(board)]
    assert "announcementUpdate" in kinds and "flightStateUpdate" in kinds


def test_restart_replays_flights_and_announcements_in_order(
    make_server: Callable[[], DaphneServer], new_context: Callable[..., Any]
) -> None:
    server = make_server()  # its own process: this test stops it
    board, requests = open_counting_board(new_context, server)
    start = parse_cursor(board.evaluate("document.documentElement.dataset.lastEventId"))
    board.evaluate("window.__sameDocument = 'before the restart'")

    server.stop()
    expect(html(board)).to_have_attribute("data-board-status", "reconnecting")
    set_states(server, ("D654", "landed"), ("U213", "diverted"))
    heads = announce(
        server,
        "kept = A.objects.create(text='Baggage hall 3 is closed', severity='warning')",
        "gone = A.objects.create(text='Short-lived notice')",
        "kept.text = 'Baggage hall 3 is open again'; kept.severity = 'info'; kept.save()",
        "gone.delete()",
    )
    assert heads == {"flights": start["flights"] + 2, "announcements": start["announcements"] + 4}
    server.start()

    expect(html(board)).to_have_attribute("data-last-event-id", at_flight(heads["flights"]), timeout=30_000)
    expect(html(board)).to_have_attribute("data-board-status", "live")
    expect(cell(board, "D654", "state")).to_have_text("Landed")
    expect(cell(board, "U213", "state")).to_have_text("Diverted")
    expect(board.locator("#announcement-list li", has_text="Baggage hall 3 is open again")).to_be_visible()
    assert "Short-lived notice" not in ticker_texts(board)
    assert "Baggage hall 3 is closed" not in ticker_texts(board)

    # Each stream's missed events exactly once, in order, after where the page stood.
    events = received(board)
    by_stream: dict[str, list[int]] = {"flights": [], "announcements": []}
    for event in events:
        own, _, position = event["id"].partition(",")[0].partition(":")
        by_stream[own].append(int(position))
    assert by_stream == {
        stream: list(range(start[stream] + 1, heads[stream] + 1)) for stream in ("flights", "announcements")
    }
    assert [e["type"] for e in events if e["id"].startswith("announcements:")] == [
        "announcementUpdate",
        "announcementUpdate",
        "announcementUpdate",
        "announcementRemoval",
    ]
    assert [json.loads(e["data"])["flight"] for e in events if e["id"].startswith("flights:")] == [
        "D654",
        "U213",
    ]
    assert board.evaluate("window.__sameDocument") == "before the restart", "the board reloaded"
    # One stream request before the restart, one after it: never one per stream.
    assert all("stream=flights&stream=announcements" in url for url in requests), requests
    assert row(board, "D654").count() == 1
