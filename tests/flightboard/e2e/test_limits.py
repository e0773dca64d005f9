"""The connection cap, seen from a browser: 503 + Retry-After, liveevents.js backs off and comes back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.flightboard.e2e.daphne_server import DaphneServer
from tests.flightboard.e2e.test_board import html

pytestmark = pytest.mark.browser


def test_board_over_the_connection_cap_backs_off_and_comes_back(
    make_server: Callable[[], DaphneServer], new_context: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEEVENTS_CONFIG", json.dumps({"MAX_CONNECTIONS": 1, "RETRY_AFTER": 1}))
    server = make_server()

    first = new_context().new_page()
    first.goto(server.url + "/")
    expect(html(first)).to_have_attribute("data-board-status", "live")

    second = new_context().new_page()
    second.goto(server.url + "/")
    # Refused with 503: the browser gives up, liveevents.js probes, waits Retry-After, retries.
    expect(html(second)).to_have_attribute("data-board-status", "reconnecting")
    second.wait_for_timeout(2500)
    expect(html(second)).to_have_attribute("data-board-status", "reconnecting")
    attempts = len(second.evaluate("window.__connects"))
    assert attempts >= 2  # it kept trying, with pauses, not in a tight loop
    assert attempts <= 6

    first.locator("#toggle-updates").click()  # frees the only slot
    expect(html(first)).to_have_attribute("data-board-status", "stopped")
    expect(html(second)).to_have_attribute("data-board-status", "live", timeout=15_000)


def test_board_whose_id_was_pruned_gets_a_reset_and_reloads_its_rows(
    server: DaphneServer, new_context: Callable[..., Any]
) -> None:
    from tests.flightboard.e2e.test_board import create_flights, new_code, row

    code = new_code()
    board = new_context().new_page()
    board.goto(server.url + "/")
    expect(html(board)).to_have_attribute("data-board-status", "live")
    board.evaluate("window.__beforeReset = true")
    board.locator("#toggle-updates").click()
    expect(html(board)).to_have_attribute("data-board-status", "stopped")

    # While the board is stopped, a flight is added and every event after its id is pruned.
    create_flights(server, (code, "Lisbon", "06:05", "delayed"))
    server.shell(
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from liveevents.models import Event\n"
        "Event.objects.update(created=timezone.now() - timedelta(days=30))\n"
    )
    server.manage("prune_events", "--days", "1")

    board.locator("#toggle-updates").click()
    # streamReset -> the page reloads (the marker is gone) and renders the current rows.
    board.wait_for_function("() => window.__beforeReset === undefined", timeout=15_000)
    expect(row(board, code)).to_have_count(1)
    expect(html(board)).to_have_attribute("data-board-status", "live")
