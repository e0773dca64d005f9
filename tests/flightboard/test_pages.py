"""The site's pages besides the arrivals board: terminal boards, a flight's page, My flights, signing
in and out; what each renders, which streams it follows from which position, and its links."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from flightboard.models import Flight, Follow
from liveevents.models import Event
from liveevents.publish import publish
from tests.concurrent_commit import concurrent_commit

# The query that reads the streams' positions: the first of a page's snapshot.
STREAM_HEADS = 'FROM "liveevents_stream"'


def make(code: str, terminal: str = "", arrival: str = "10:10", state: str = "") -> Flight:
    return Flight.objects.create(
        flight=code,
        origin=f"From {code}",
        arrival=datetime.time.fromisoformat(arrival),
        terminal=terminal,
        state=state,
    )


def rows(content: str) -> list[str]:
    return re.findall(r'<tr data-flight="([^"]+)">', content)


def cursor_positions(content: str) -> dict[str, int]:
    cursor = main_attribute(content, "data-stream-cursor")
    return {name: int(position) for name, _, position in (pair.partition(":") for pair in cursor.split(","))}


def main_attribute(content: str, name: str) -> str:
    found = re.search(rf'<main [^>]*\b{name}="([^"]*)"', content, re.DOTALL)
    assert found, f"<main> has no {name}"
    return found.group(1).replace("&amp;", "&")


@pytest.fixture
def ada(db: None) -> User:
    return User.objects.create_user("ada", password="pw")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def airport(db: None) -> dict[str, Flight]:
    return {
        "A123": make("A123", "1", "08:15"),
        "U213": make("U213", "1", "09:05"),
        "D654": make("D654", "2", "08:45"),
        "I768": make("I768", "2", "10:10", "landing"),
        "ZZ99": make("ZZ99", "", "11:00"),
    }


# Terminal boards -------------------------------------------------------------------------------


def test_terminal_board_shows_that_terminals_flights_in_arrival_order(client: Client, airport: Any) -> None:
    response = client.get("/terminals/2/")
    assert response.status_code == 200
    content = response.content.decode()
    assert rows(content) == ["D654", "I768"]
    assert "<title>Terminal 2 arrivals</title>" in content
    assert '<h1 id="board-title" class="board-title">Terminal 2 arrivals</h1>' in content


def test_terminal_board_follows_its_terminal_and_announcements_from_the_rendered_position(
    client: Client, airport: Any
) -> None:
    publish("announcements", "announcementUpdate", {"id": 0})
    content = client.get("/terminals/2/").content.decode()
    assert main_attribute(content, "data-streams") == "terminal.2 announcements"
    assert main_attribute(content, "data-streams-url") == "/events/?stream=terminal.2&stream=announcements"
    assert main_attribute(content, "data-stream-cursor") == "terminal.2:2,announcements:1"


def test_the_arrivals_board_names_its_streams_for_board_js(client: Client, airport: Any) -> None:
    content = client.get("/").content.decode()
    assert main_attribute(content, "data-streams") == "flights announcements"
    assert rows(content) == ["A123", "D654", "U213", "I768", "ZZ99"]


def test_a_terminal_with_no_flights_has_an_empty_live_board(client: Client, airport: Any) -> None:
    # A flight moved there later appears on it.
    content = client.get("/terminals/9/").content.decode()
    assert rows(content) == []
    assert '<tr id="no-flights" class="empty"><td colspan="4">No flights on the board.</td></tr>' in content
    assert main_attribute(content, "data-stream-cursor") == "terminal.9:0,announcements:0"


@pytest.mark.parametrize("path", ["/terminals/t2/", "/terminals/12345/", "/terminals/2.1/", "/terminals//"])
def test_a_terminal_code_outside_the_grammar_is_404(client: Client, db: None, path: str) -> None:
    assert client.get(path).status_code == 404


def test_every_page_links_to_each_terminal_board(client: Client, airport: Any) -> None:
    for path in ("/", "/terminals/1/", "/flights/I768/"):
        content = client.get(path).content.decode()
        nav = re.search(r'<nav class="site-nav" aria-label="Boards">(.*?)</nav>', content, re.DOTALL)
        assert nav, path
        links = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav.group(1))
        assert links == [
            ("/", "All arrivals"),
            ("/terminals/1/", "Terminal 1"),
            ("/terminals/2/", "Terminal 2"),
            ("/my/", "My flights"),
        ]
    content = client.get("/terminals/1/").content.decode()
    assert '<a href="/terminals/1/" aria-current="page">Terminal 1</a>' in content
    assert content.count('aria-current="page"') == 1


# The flight page --------------------------------------------------------------------------------


def test_each_board_row_links_to_its_flights_page(client: Client, airport: Any) -> None:
    for path in ("/", "/terminals/2/"):
        content = client.get(path).content.decode()
        assert '<td data-field="flight"><a href="/flights/I768/">I768</a></td>' in content
        assert main_attribute(content, "data-flight-url") == "/flights/__flight__/"


def test_flight_page_shows_the_flight_and_follows_its_stream(client: Client, airport: Any) -> None:
    flight = airport["I768"]
    flight.state = Flight.State.LANDED
    flight.save()
    response = client.get("/flights/I768/")
    assert response.status_code == 200
    content = response.content.decode()
    assert rows(content) == ["I768"]
    assert '<td data-field="terminal">2</td>' in content
    assert '<td data-field="state" data-state="landed">Landed</td>' in content
    assert main_attribute(content, "data-streams") == "flight.I768"
    assert main_attribute(content, "data-streams-url") == "/events/?stream=flight.I768"
    assert main_attribute(content, "data-stream-cursor") == "flight.I768:2"
    # What the page says once the flight is removed (board.js shows it).
    assert '<td colspan="5">Flight I768 has left the board.</td>' in content


@pytest.mark.parametrize("path", ["/flights/NOPE/", "/flights/i768/", "/flights/I.768/"])
def test_flight_page_of_an_unknown_code_is_404(client: Client, airport: Any, path: str) -> None:
    assert client.get(path).status_code == 404


def lands_elsewhere(code: str) -> Callable[[], None]:
    def land() -> None:
        flight = Flight.objects.get(flight=code)
        flight.state = Flight.State.LANDED
        flight.save()

    return land


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
@pytest.mark.parametrize(
    ("path", "stream"), [("/", "flights"), ("/terminals/2/", "terminal.2"), ("/flights/I768/", "flight.I768")]
)
def test_a_change_committed_while_a_page_reads_is_shown_or_replayed(
    airport: Any, path: str, stream: str, before: bool
) -> None:
    # Just before or just after the page reads its position, another request lands I768. The
    # page must show it landed, or follow its stream from before the landing (then it is
    # replayed). A page that read its flights before its position fails the first.
    with concurrent_commit(lands_elsewhere("I768"), reading=STREAM_HEADS, before=before):
        content = Client().get(path).content.decode()
    landed = Event.objects.filter(stream_id=stream).order_by("sequence").last()
    assert landed is not None and json.loads(landed.data)["state"] == "landed"
    row = re.search(r'<tr data-flight="I768">.*?</tr>', content, re.DOTALL)
    assert row is not None
    assert 'data-state="landed"' in row.group(0) or cursor_positions(content)[stream] < landed.sequence


# My flights -----------------------------------------------------------------------------------


def test_my_flights_needs_a_signed_in_user(client: Client, db: None) -> None:
    response = client.get("/my/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/my/"


def test_my_flights_shows_the_users_flights_over_one_connection(ada: User, airport: Any) -> None:
    grace = User.objects.create_user("grace", password="pw")
    Follow.objects.create(user=ada, flight=airport["I768"])
    Follow.objects.create(user=ada, flight=airport["A123"])
    Follow.objects.create(user=grace, flight=airport["D654"])
    content = signed_in(ada).get("/my/").content.decode()
    assert rows(content) == ["A123", "I768"]
    own = f"user.{ada.pk}"
    assert main_attribute(content, "data-user-stream") == own
    assert main_attribute(content, "data-streams") == f"{own} flight.A123 flight.I768"
    assert main_attribute(content, "data-streams-url") == (
        f"/events/?stream={own}&stream=flight.A123&stream=flight.I768"
    )
    assert main_attribute(content, "data-stream-cursor") == f"{own}:2,flight.A123:1,flight.I768:1"
    assert main_attribute(content, "data-flight-stream") == "flight.__flight__"
    assert main_attribute(content, "data-following") == "A123 I768"


def test_my_flights_with_no_follows_follows_the_users_stream(ada: User, airport: Any) -> None:
    content = signed_in(ada).get("/my/").content.decode()
    assert rows(content) == []
    assert main_attribute(content, "data-streams-url") == f"/events/?stream=user.{ada.pk}"
    assert "You follow no flights yet: follow one from a board." in content


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_my_flights_reads_its_own_position_before_the_follow_list(
    ada: User, airport: Any, before: bool
) -> None:
    # A follow committed while the page renders must reach it: in the list, or replayed after
    # the page's position. Were the list read before the position, one committed just before the
    # position is read would be in neither.
    own = f"user.{ada.pk}"
    client = signed_in(ada)

    def follow() -> None:
        Follow.objects.create(user=ada, flight=airport["D654"])

    with concurrent_commit(follow, reading=STREAM_HEADS, before=before):
        content = client.get("/my/").content.decode()
    position = cursor_positions(content)[own]
    followed_after = 1  # the id of its flightFollowed on the user's stream
    assert "flight.D654" in main_attribute(content, "data-streams") or position < followed_after


def test_my_flights_shows_no_more_flights_than_one_connection_follows(
    ada: User, airport: Any, settings: Any
) -> None:
    settings.LIVEEVENTS = {"MAX_STREAMS_PER_CONNECTION": 3}
    for code in ("A123", "D654", "I768"):  # one added past the limit, as the admin can
        Follow.objects.create(user=ada, flight=airport[code])
    content = signed_in(ada).get("/my/").content.decode()
    assert len(main_attribute(content, "data-streams").split()) == 3
    assert "1 more followed flight not shown: this page follows at most 2." in content


# Follow buttons ------------------------------------------------------------------------------


def test_signed_in_users_get_follow_buttons_on_boards_and_flight_pages(ada: User, airport: Any) -> None:
    Follow.objects.create(user=ada, flight=airport["I768"])
    client = signed_in(ada)
    for path in ("/", "/terminals/2/", "/flights/I768/"):
        content = client.get(path).content.decode()
        row = re.search(r'<tr data-flight="I768">(.*?)</tr>', content, re.DOTALL)
        assert row, path
        assert 'action="/flights/I768/unfollow/"' in row.group(1)
        assert f'<input type="hidden" name="next" value="{path}">' in row.group(1)
        assert 'aria-label="Unfollow I768"' in row.group(1)
        assert 'name="csrfmiddlewaretoken"' in row.group(1)
    content = client.get("/terminals/2/").content.decode()
    row = re.search(r'<tr data-flight="D654">(.*?)</tr>', content, re.DOTALL)
    assert row and 'action="/flights/D654/follow/"' in row.group(1)
    # The forms board.js completes for rows it adds, with the page's CSRF token.
    assert re.search(
        r'<template id="follow-template">\s*<form method="post" action="/flights/__flight__/follow/"', content
    )
    assert re.search(
        r'<template id="unfollow-template">\s*<form method="post" action="/flights/__flight__/unfollow/"',
        content,
    )
    assert main_attribute(content, "data-following") == "I768"


def test_anonymous_visitors_get_no_follow_buttons(client: Client, airport: Any) -> None:
    for path in ("/", "/terminals/2/", "/flights/I768/"):
        content = client.get(path).content.decode()
        assert "/follow/" not in content and "follow-template" not in content
        assert "data-following" not in content
        assert '<a href="/accounts/login/?next=' in content


# Signing in and out ---------------------------------------------------------------------------


def test_sign_in_page_signs_in_and_goes_to_my_flights(ada: User) -> None:
    client = Client()
    page = client.get("/accounts/login/?next=/my/")
    assert page.status_code == 200
    content = page.content.decode()
    assert '<form method="post" action="/accounts/login/" class="sign-in-form">' in content
    assert '<input type="hidden" name="next" value="/my/">' in content
    assert '<label for="id_username">Username</label>' in content
    response = client.post("/accounts/login/", {"username": "ada", "password": "pw", "next": "/my/"})
    assert (response.status_code, response["Location"]) == (302, "/my/")
    assert client.get("/my/").status_code == 200


def test_a_wrong_password_is_refused_with_a_message(ada: User) -> None:
    response = Client().post("/accounts/login/", {"username": "ada", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()


def test_sign_out_is_a_post_that_ends_the_session(ada: User) -> None:
    client = signed_in(ada)
    content = client.get("/my/").content.decode()
    assert '<form method="post" action="/accounts/logout/" class="sign-out">' in content
    assert "Signed in as ada" in content
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert (response.status_code, response["Location"]) == (302, "/")
    assert client.get("/my/").status_code == 302


# CSP ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/terminals/2/", "/flights/I768/", "/my/", "/accounts/login/"])
def test_pages_have_no_inline_script_or_style(ada: User, airport: Any, path: str) -> None:
    Follow.objects.create(user=ada, flight=airport["I768"])
    content = signed_in(ada).get(path).content.decode()
    assert not re.search(r"\sstyle=", content, re.IGNORECASE)
    assert "<style" not in content.lower()
    assert not re.search(r"\son[a-z]+=", content, re.IGNORECASE)
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", content, re.DOTALL)
    assert all(body == "" for _, body in scripts)
    expected = [] if path == "/accounts/login/" else [' type="module" src="/static/flightboard/board.js"']
    assert [attributes for attributes, _ in scripts] == expected


STRICT_POLICY = {
    "default-src": ["'self'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "object-src": ["'none'"],
}


def policy(response: Any) -> dict[str, list[str]]:
    """The response's Content-Security-Policy, directive by directive."""
    assert "Content-Security-Policy-Report-Only" not in response
    directives = [part.split() for part in response["Content-Security-Policy"].split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize(
    "path",
    ["/", "/terminals/2/", "/terminals/9/", "/flights/I768/", "/my/", "/accounts/login/", "/nowhere/"],
)
def test_every_page_sends_the_strict_content_security_policy(ada: User, airport: Any, path: str) -> None:
    Follow.objects.create(user=ada, flight=airport["I768"])
    for client in (Client(), signed_in(ada)):
        response = client.get(path)
        # script-src and style-src fall back to default-src: no inline script or style, no eval.
        assert policy(response) == STRICT_POLICY, (path, response.status_code)


def test_a_refused_sign_in_and_a_follow_redirect_send_it_too(ada: User, airport: Any) -> None:
    assert policy(Client().post("/accounts/login/", {"username": "ada", "password": "no"})) == STRICT_POLICY
    assert policy(signed_in(ada).post("/flights/I768/follow/", {"next": "/"})) == STRICT_POLICY


@pytest.mark.parametrize(
    "path",
    [
        "/admin/login/",
        "/admin/",
        "/admin/flightboard/flight/",
        "/admin/flightboard/flight/add/",
        "/admin/flightboard/flight/{pk}/change/",
        "/admin/flightboard/announcement/",
        "/admin/liveevents/event/",
        "/admin/auth/user/",
    ],
)
def test_the_admin_sends_the_same_policy(admin_client: Client, airport: Any, path: str) -> None:
    client = Client() if path == "/admin/login/" else admin_client
    response = client.get(path.format(pk=airport["I768"].pk))
    assert response.status_code == 200
    assert policy(response) == STRICT_POLICY
