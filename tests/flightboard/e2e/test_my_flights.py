"""My flights in Chromium against a real daphne process (see conftest.py): two demo users signed in
at once, following from a board in another tab, a server restart with every followed stream
replayed, and signing out elsewhere."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from liveevents.cursor import parse_cursor
from tests.flightboard.e2e.daphne_server import DaphneServer
from tests.flightboard.e2e.test_board import cell, html, received, row

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

_codes = (f"M{n:03d}" for n in itertools.count(100))


def new_code() -> str:
    return next(_codes)


def shell(server: DaphneServer, code: str) -> dict[str, int]:
    """Run ORM code from another process; return the heads of the streams it names in HEADS."""
    output = server.shell(
        "import datetime\nfrom django.contrib.auth.models import User\n"
        "from flightboard.models import Flight, Follow\nfrom liveevents.models import Stream\n"
        "HEADS = []\n" + code + "\nprint('HEADS', ' '.join(f'{n}={Stream.current_id(n)}' for n in HEADS))\n"
    )
    found = re.search(r"^HEADS ?(.*)$", output, re.MULTILINE)
    assert found, output
    return {name: int(n) for name, n in (pair.split("=") for pair in found.group(1).split())}


def create_flights(server: DaphneServer, terminal: str, *codes: str) -> None:
    shell(
        server,
        "".join(
            f"Flight.objects.create(flight={code!r}, origin='Oslo', arrival=datetime.time(9, {i}), "
            f"terminal={terminal!r})\n"
            for i, code in enumerate(codes, 10)
        ),
    )


def follow(username: str, code: str) -> str:
    """Shell code: `username` follows the flight."""
    return (
        f"Follow.objects.create(user=User.objects.get(username={username!r}), "
        f"flight=Flight.objects.get(flight={code!r}))\n"
    )


def set_state(code: str, state: str) -> str:
    """Shell code: save the flight in `state`."""
    return f"f = Flight.objects.get(flight={code!r}); f.state = {state!r}; f.save()\n"


def sign_in(context: BrowserContext, server: DaphneServer, username: str) -> Page:
    """Sign in through the site's form; the page lands on My flights, live."""
    page = context.new_page()
    page.goto(server.url + "/accounts/login/?next=/my/")
    page.fill("#id_username", username)
    page.fill("#id_password", server.demo_password(username))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + "/my/")
    expect(html(page)).to_have_attribute("data-board-status", "live")
    page.evaluate("window.__sameDocument = 'as opened'")
    return page


def user_stream(page: Page) -> str:
    return page.locator("main").get_attribute("data-user-stream") or ""


def cursor(page: Page) -> dict[str, int]:
    return parse_cursor(page.evaluate("document.documentElement.dataset.lastEventId"))


def connected_streams(page: Page) -> list[str]:
    """The streams of the page's latest connection."""
    return parse_qs(urlsplit(page.evaluate("window.__connects")[-1]).query)["stream"]


def follow_button(page: Page, code: str) -> Any:
    return row(page, code).locator("td.follow button")


def test_following_from_a_board_in_another_tab_adds_the_flight_live(
    server: DaphneServer, new_context: Callable[..., Any]
) -> None:
    first, second = new_code(), new_code()
    create_flights(server, "2", first, second)
    ada_context, grace_context = new_context(), new_context()
    ada = sign_in(ada_context, server, "ada")
    grace = sign_in(grace_context, server, "grace")
    expect(ada.locator("#no-flights")).to_have_text("You follow no flights yet: follow one from a board.")

    # Another tab of ada's: follow from the terminal board; the form posts and comes back.
    board = ada_context.new_page()
    board.goto(server.url + "/terminals/2/")
    expect(follow_button(board, first)).to_have_text("Follow")
    follow_button(board, first).click()
    expect(board).to_have_url(server.url + "/terminals/2/")
    expect(board.locator(".messages")).to_have_text("You follow " + first + ".")
    expect(follow_button(board, first)).to_have_text("Unfollow")
    expect(follow_button(board, first)).to_have_attribute("aria-label", f"Unfollow {first}")

    # My flights hears it on ada's stream, shows the row, and follows the flight's stream from
    # the id the row matched, over the same one connection.
    added = row(ada, first)
    expect(added.locator("td[data-field]")).to_have_text(["Oslo", first, "09:10", "2", "Scheduled"])
    [followed] = [e for e in received(ada) if e["type"] == "flightFollowed"]
    assert followed["id"].startswith(user_stream(ada) + ":")
    ada.wait_for_function(f"() => window.__connects.at(-1).includes('stream=flight.{first}')", timeout=10_000)
    assert connected_streams(ada) == [user_stream(ada), f"flight.{first}"]
    resumed = parse_cursor(parse_qs(urlsplit(ada.evaluate("window.__connects")[-1]).query)["lastEventId"][0])
    assert resumed[f"flight.{first}"] == int(json.loads(followed["data"])["lastEventId"])
    assert resumed[user_stream(ada)] == parse_cursor(followed["id"])[user_stream(ada)]

    # Its changes arrive there; grace, signed in at the same time, hears nothing of ada's flights.
    shell(server, set_state(first, "landing"))
    expect(cell(ada, first, "state")).to_have_text("Landing")
    expect(added.locator("td.follow button")).to_have_text("Unfollow")
    assert received(grace) == []

    # Grace follows the other flight from its page: hers only.
    flight_page = grace_context.new_page()
    flight_page.goto(f"{server.url}/flights/{second}/")
    follow_button(flight_page, second).click()
    expect(follow_button(flight_page, second)).to_have_text("Unfollow")
    expect(row(grace, second)).to_have_count(1)
    expect(row(ada, second)).to_have_count(0)
    assert [e["type"] for e in received(ada)] == ["flightFollowed", "flightStateUpdate"]

    # Unfollowed in the board tab: the row and its stream leave My flights.
    follow_button(board, first).click()
    expect(follow_button(board, first)).to_have_text("Follow")
    expect(row(ada, first)).to_have_count(0)
    expect(ada.locator("#no-flights")).to_be_visible()
    ada.wait_for_function("() => !window.__connects.at(-1).includes('stream=flight.')", timeout=10_000)
    assert connected_streams(ada) == [user_stream(ada)]
    for page in (ada, grace):
        assert page.evaluate("window.__sameDocument") == "as opened", "My flights reloaded"


def test_my_flights_survives_a_restart_with_every_followed_stream_replayed(
    make_server: Callable[[], DaphneServer], new_context: Callable[..., Any]
) -> None:
    server = make_server()  # its own process: this test stops it
    one, two, three = new_code(), new_code(), new_code()
    create_flights(server, "1", one, two, three)
    shell(server, follow("ada", one) + follow("ada", two))
    context = new_context()
    page = sign_in(context, server, "ada")
    own = user_stream(page)
    expect(page.locator("#flights tbody tr[data-flight]")).to_have_count(2)
    start = cursor(page)
    assert sorted(start) == sorted([own, f"flight.{one}", f"flight.{two}"])

    server.stop()
    expect(html(page)).to_have_attribute("data-board-status", "reconnecting")
    # While it is down: both flights change, the user follows a third (from elsewhere), which
    # then changes too.
    heads = shell(
        server,
        set_state(one, "delayed")
        + set_state(two, "landing")
        + set_state(one, "landing")
        + follow("ada", three)
        + set_state(three, "diverted")
        + f"HEADS = [{own!r}, 'flight.{one}', 'flight.{two}', 'flight.{three}']\n",
    )
    assert heads[own] == start[own] + 1
    assert heads[f"flight.{one}"] == start[f"flight.{one}"] + 2
    assert heads[f"flight.{two}"] == start[f"flight.{two}"] + 1
    server.start()

    page.wait_for_function(
        "(heads) => { const c = document.documentElement.dataset.lastEventId || '';"
        " return Object.entries(heads).every(([s, n]) => c.split(',').includes(`${s}:${n}`)); }",
        arg=heads,
        timeout=30_000,
    )
    expect(html(page)).to_have_attribute("data-board-status", "live")
    expect(cell(page, one, "state")).to_have_text("Landing")
    expect(cell(page, two, "state")).to_have_text("Landing")
    expect(cell(page, three, "state")).to_have_text("Diverted")
    assert cursor(page) == heads

    # Every stream's missed events exactly once, in order, from where the page stood; the third
    # flight's from the id its follow carried.
    events = received(page)
    by_stream: dict[str, list[int]] = {}
    for event in events:
        stream, _, position = event["id"].partition(",")[0].partition(":")
        by_stream.setdefault(stream, []).append(int(position))
    [followed] = [e for e in events if e["type"] == "flightFollowed"]
    since = int(json.loads(followed["data"])["lastEventId"])
    assert by_stream == {
        own: [start[own] + 1],
        f"flight.{one}": list(range(start[f"flight.{one}"] + 1, heads[f"flight.{one}"] + 1)),
        f"flight.{two}": list(range(start[f"flight.{two}"] + 1, heads[f"flight.{two}"] + 1)),
        f"flight.{three}": list(range(since + 1, heads[f"flight.{three}"] + 1)),
    }
    assert by_stream[f"flight.{three}"], "the change after the follow was not replayed"
    assert sorted(connected_streams(page)) == sorted(heads)
    assert page.evaluate("window.__sameDocument") == "as opened", "My flights reloaded"
    assert row(page, three).count() == 1


def test_signing_out_in_another_tab_stops_my_flights_and_asks_to_sign_in(
    server: DaphneServer, new_context: Callable[..., Any]
) -> None:
    code = new_code()
    create_flights(server, "3", code)
    shell(server, follow("grace", code))
    context = new_context()
    page = sign_in(context, server, "grace")
    # Her own stream and a public one: losing hers alone must stop the page all the same.
    streams = connected_streams(page)
    assert streams[0] == user_stream(page) and f"flight.{code}" in streams
    other = context.new_page()
    other.goto(server.url + "/")
    other.get_by_role("button", name="Sign out").click()
    expect(other.get_by_role("link", name="Sign in")).to_be_visible()

    prompt = page.locator("#signed-out")
    expect(prompt).to_be_visible()
    expect(prompt.get_by_role("link", name="Sign in again")).to_have_attribute(
        "href", "/accounts/login/?next=/my/"
    )
    expect(html(page)).to_have_attribute("data-board-status", "stopped")
    expect(page.locator("#connection .connection-text")).to_have_text("Stopped (signed out)")
    expect(page.locator("#toggle-updates")).to_be_disabled()
    closed = [json.loads(e["data"]) for e in received(page) if e["type"] == "closedConnection"]
    assert closed == [{"stream": user_stream(page), "reason": "forbidden"}]
    connects = len(page.evaluate("window.__connects"))
    shell(server, set_state(code, "landed"))
    page.wait_for_timeout(2500)  # longer than the browser's own retry: it must not come back
    assert len(page.evaluate("window.__connects")) == connects
    expect(cell(page, code, "state")).to_have_text("Scheduled")
