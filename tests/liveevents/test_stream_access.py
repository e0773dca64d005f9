"""Who may open a stream, and how requests that cannot get one are answered, at the ASGI level."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client

from liveevents.hub import StreamHub
from liveevents.publish import publish
from liveevents.streams import PUBLIC, STAFF, declare_stream, forget_stream, owner
from liveevents.testing import StreamResponse
from tests.liveevents.asgi_client import open_stream, stream_response
from tests.notes.models import Note

pytestmark = pytest.mark.timeout(30)

BULLETINS = "/events/bulletins/"
NOTES = "/events/notes/"


def session_cookie_for(username: str, **flags: Any) -> str:
    """A `cookie` header value carrying the session of a freshly logged-in user."""
    user = User.objects.create_user(username, password="pw", **flags)
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def refused(path: str, headers: dict[str, str] | None = None, method: str = "GET") -> StreamResponse:
    """A response read to its end; the client then hangs up, so Django's handler finishes too."""
    return await refused_by(path, headers, method)


async def refused_by(
    path: str, headers: dict[str, str] | None = None, method: str = "GET", router: bool | None = None
) -> StreamResponse:
    """refused(), through liveevents' StreamRouter (router=True) or Django's view alone (False)."""
    response = await open_stream(path, headers, method, router=router)
    await response.read_to_end()
    await response.disconnect()
    return response


async def opened(response: StreamResponse) -> None:
    """A 200 that really streams: the retry line arrives."""
    assert response.status == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    await response.read_until(lambda r: r.parser.retry is not None)


# Readers -----------------------------------------------------------------------------------------


async def test_authenticated_stream_refuses_anonymous_requests(hub: StreamHub) -> None:
    response = await refused(NOTES)
    assert response.status == 403
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert b"You may not read stream 'notes'." in response.body
    assert hub.connection_count == 0


async def test_authenticated_stream_serves_a_signed_in_user(hub: StreamHub) -> None:
    cookie = await sync_to_async(session_cookie_for)("reader")
    response = await open_stream(NOTES, {"cookie": cookie})
    await opened(response)
    note = await sync_to_async(Note.objects.create)(title="hello", body="a\nb")
    [event] = await response.read_events(1)
    assert event.event == "noteSaved"
    assert json.loads(event.data) == {"id": note.pk, "title": "hello", "body": "a\nb"}
    assert event.last_event_id == "1"
    await response.disconnect()


async def test_authenticated_stream_refuses_an_inactive_users_session(hub: StreamHub) -> None:
    cookie = await sync_to_async(session_cookie_for)("gone", is_active=False)
    assert (await refused(NOTES, {"cookie": cookie})).status == 403


@pytest.mark.parametrize("cookie", ["sessionid=not-a-session", "sessionid=", "other=1"])
async def test_authenticated_stream_refuses_an_invalid_session(hub: StreamHub, cookie: str) -> None:
    assert (await refused(NOTES, {"cookie": cookie})).status == 403


async def test_public_stream_serves_anonymous_requests(hub: StreamHub) -> None:
    response = await open_stream(BULLETINS)
    await opened(response)
    await response.disconnect()


@pytest.fixture
def staff_stream() -> Iterator[str]:
    declare_stream("staffonly", readers=STAFF)
    yield "/events/staffonly/"
    forget_stream("staffonly")


async def test_staff_stream_serves_staff_only(hub: StreamHub, staff_stream: str) -> None:
    user_cookie = await sync_to_async(session_cookie_for)("user")
    staff_cookie = await sync_to_async(session_cookie_for)("staff", is_staff=True)
    assert (await refused(staff_stream)).status == 403
    assert (await refused(staff_stream, {"cookie": user_cookie})).status == 403
    response = await open_stream(staff_stream, {"cookie": staff_cookie})
    await opened(response)
    await response.disconnect()


async def test_refused_reader_learns_nothing_about_the_stream(hub: StreamHub) -> None:
    await sync_to_async(Note.objects.create)(title="secret")
    response = await refused(NOTES, {"Last-Event-ID": "0"})
    assert response.status == 403
    assert b"secret" not in response.body
    assert response.parser.events == []


# Unknown stream, method, Accept -------------------------------------------------------------------


async def test_unknown_stream_is_404(hub: StreamHub) -> None:
    response = await refused("/events/nope/")
    assert response.status == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert b"Unknown stream 'nope'." in response.body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_methods_other_than_get_are_405(hub: StreamHub, method: str) -> None:
    response = await refused(BULLETINS, method=method)
    assert response.status == 405
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize("accept", ["text/html", "application/json", "text/html,application/xhtml+xml"])
async def test_a_client_that_does_not_accept_event_streams_gets_406(hub: StreamHub, accept: str) -> None:
    response = await refused(BULLETINS, {"Accept": accept})
    assert response.status == 406
    assert b"text/event-stream" in response.body


@pytest.mark.parametrize(
    "accept", ["*/*", "text/*", "text/event-stream", "text/html, text/event-stream;q=0.5"]
)
async def test_accept_headers_that_allow_event_streams_get_200(hub: StreamHub, accept: str) -> None:
    response = await open_stream(BULLETINS, {"Accept": accept})
    await opened(response)
    await response.disconnect()


async def test_no_accept_header_gets_200(hub: StreamHub) -> None:
    request = stream_response(BULLETINS)
    request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"accept"]
    response = await request.start()
    await opened(response)
    await response.disconnect()


# Last-Event-ID ----------------------------------------------------------------------------------

MALFORMED_IDS = ["abc", "-1", "1.5", "99999999999999999999999", "1e3", "0x10", "٣", "+1", "1 2"]


@pytest.mark.parametrize("last_id", MALFORMED_IDS)
async def test_malformed_last_event_id_header_is_400_naming_the_header(hub: StreamHub, last_id: str) -> None:
    response = await refused(BULLETINS, {"Last-Event-ID": last_id})
    assert response.status == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert b"Last-Event-ID" in response.body
    assert b"non-negative integer" in response.body
    assert hub.connection_count == 0


@pytest.mark.parametrize("last_id", ["abc", "-1", "1.5", "99999999999999999999999"])
async def test_malformed_last_event_id_query_parameter_is_400(hub: StreamHub, last_id: str) -> None:
    from urllib.parse import quote

    response = await refused(f"{BULLETINS}?lastEventId={quote(last_id)}")
    assert response.status == 400
    assert b"lastEventId" in response.body


async def test_a_reader_who_may_not_read_gets_403_whatever_else_is_wrong(hub: StreamHub) -> None:
    # Nothing is said about a stream the client may not read: not its id syntax, not its format.
    assert (await refused(NOTES, {"Last-Event-ID": "abc"})).status == 403
    assert (await refused(NOTES, {"Accept": "text/html"})).status == 403


async def test_a_reader_who_may_read_gets_400_for_a_malformed_id(hub: StreamHub) -> None:
    # Still 400, not a stream: a browser would otherwise retry the bad id for ever.
    cookie = await sync_to_async(session_cookie_for)("reader")
    response = await refused(NOTES, {"Last-Event-ID": "abc", "Cookie": cookie})
    assert response.status == 400


async def test_long_malformed_id_is_truncated_in_the_message(hub: StreamHub) -> None:
    response = await refused(BULLETINS, {"Last-Event-ID": "x" * 5000})
    assert response.status == 400
    assert len(response.body) < 300


@pytest.mark.parametrize("last_id", ["", "  "])
async def test_empty_last_event_id_means_live_from_now(hub: StreamHub, last_id: str) -> None:
    response = await open_stream(BULLETINS, {"Last-Event-ID": last_id})
    await opened(response)
    await response.disconnect()


@pytest.mark.parametrize("last_id", ["9223372036854775807", "9999999999999999999"])
async def test_huge_last_event_id_ahead_of_the_stream_gets_a_reset(hub: StreamHub, last_id: str) -> None:
    # 19 digits pass the syntax check, even beyond a 64-bit integer: the client is ahead, so it resets.
    response = await open_stream(BULLETINS, {"Last-Event-ID": last_id})
    await opened(response)
    [event] = await response.read_events(1)
    assert event.event == "streamReset"
    assert json.loads(event.data) == {"stream": "bulletins", "lastEventId": 0}
    assert event.last_event_id == "0"
    await response.disconnect()


# CORS -------------------------------------------------------------------------------------------


async def test_foreign_origin_gets_no_cors_headers(hub: StreamHub) -> None:
    response = await open_stream(BULLETINS, {"Origin": "https://evil.example"})
    await opened(response)
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    await response.disconnect()


async def test_foreign_origin_gets_no_cors_headers_even_when_others_are_allowed(
    hub: StreamHub, settings: Any
) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://board.example"]
    response = await open_stream(BULLETINS, {"Origin": "https://evil.example"})
    await opened(response)
    assert "access-control-allow-origin" not in response.headers
    await response.disconnect()


async def test_allowed_origin_gets_its_own_origin_and_credentials(hub: StreamHub, settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://board.example"]
    response = await open_stream(BULLETINS, {"Origin": "https://board.example"})
    await opened(response)
    assert response.headers["access-control-allow-origin"] == "https://board.example"
    assert response.headers["access-control-allow-credentials"] == "true"
    await response.disconnect()


@pytest.mark.parametrize("origin", ["https://board.example", "https://evil.example", "null"])
async def test_cors_never_answers_with_a_wildcard(hub: StreamHub, settings: Any, origin: str) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://board.example"]
    response = await open_stream(BULLETINS, {"Origin": origin})
    await opened(response)
    assert response.headers.get("access-control-allow-origin") in (None, "https://board.example")
    assert "*" not in response.headers.get("access-control-allow-origin", "")
    await response.disconnect()


async def test_allowed_origin_with_a_session_reads_an_authenticated_stream(
    hub: StreamHub, settings: Any
) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://board.example"]
    cookie = await sync_to_async(session_cookie_for)("reader")
    response = await open_stream(NOTES, {"Origin": "https://board.example", "cookie": cookie})
    await opened(response)
    assert response.headers["access-control-allow-origin"] == "https://board.example"
    assert response.headers["access-control-allow-credentials"] == "true"
    await response.disconnect()


@pytest.mark.parametrize(
    ("origin", "allowed"), [("https://board.example", True), ("https://evil.example", False)]
)
async def test_preflight_is_answered_for_allowed_origins_only(
    hub: StreamHub, settings: Any, origin: str, allowed: bool
) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://board.example"]
    response = await refused(
        BULLETINS,
        {
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id",
        },
        method="OPTIONS",
    )
    if allowed:
        assert response.status == 200
        assert response.headers["access-control-allow-origin"] == origin
        assert "last-event-id" in response.headers["access-control-allow-headers"]
    else:
        assert "access-control-allow-origin" not in response.headers


# Families --------------------------------------------------------------------------------------


@pytest.fixture
def families() -> Iterator[None]:
    """A public family and a per-user one, as a project declares them."""
    declare_stream("terminal.{code}", readers=PUBLIC)
    declare_stream("user.{id}", readers=owner("id"))
    yield
    forget_stream("terminal.{code}")
    forget_stream("user.{id}")


def signed_in(username: str) -> tuple[int, str]:
    """A new user's primary key and a `cookie` header value carrying their session."""
    cookie = session_cookie_for(username)
    return User.objects.get(username=username).pk, cookie


ROUTED = pytest.mark.parametrize("router", [True, False], ids=["router", "django"])


@ROUTED
@pytest.mark.parametrize("path", ["/events/terminal.2/", "/events/?stream=terminal.2&stream=bulletins"])
async def test_a_family_member_is_served_on_both_endpoints(
    hub: StreamHub, families: None, router: bool, path: str
) -> None:
    response = await open_stream(path, router=router)
    await opened(response)
    await sync_to_async(publish)("terminal.1", "tick", "not for terminal 2")
    await sync_to_async(publish)("terminal.2", "tick", "for terminal 2")
    [event] = await response.read_events(1)
    assert event.data == "for terminal 2"
    assert event.last_event_id in ("1", "terminal.2:1,bulletins:0")
    await response.disconnect()


@ROUTED
@pytest.mark.parametrize(
    "path",
    ["/events/terminal.a:b/", "/events/terminal.a%20b/", "/events/?stream=bulletins&stream=terminal.a:b"],
)
async def test_a_parameter_outside_the_grammar_is_404_saying_why(
    hub: StreamHub, families: None, router: bool, path: str
) -> None:
    response = await refused_by(path, router=router)
    assert response.status == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert b"is not a stream of family 'terminal.{code}': its 'code' must be ASCII letters" in response.body
    assert hub.connection_count == 0


@ROUTED
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/events/terminal/", "terminal"),
        ("/events/terminals.1/", "terminals.1"),
        ("/events/?stream=bulletins&stream=gate.1", "gate.1"),
    ],
)
async def test_a_name_that_matches_no_declaration_is_404(
    hub: StreamHub, families: None, router: bool, path: str, name: str
) -> None:
    response = await refused_by(path, router=router)
    assert response.status == 404
    assert f"Unknown stream '{name}'.".encode() in response.body


@ROUTED
@pytest.mark.parametrize("multiplexed", [False, True], ids=["own-url", "multiplexed"])
async def test_another_users_stream_is_403_before_any_byte(
    hub: StreamHub, families: None, router: bool, multiplexed: bool
) -> None:
    _, cookie = await sync_to_async(signed_in)("reader")
    other, _ = await sync_to_async(signed_in)("other")
    await sync_to_async(publish)(f"user.{other}", "secret", "their data")
    path = f"/events/?stream=bulletins&stream=user.{other}" if multiplexed else f"/events/user.{other}/"
    for headers in ({"cookie": cookie, "Last-Event-ID": "0"}, {}):
        response = await refused_by(path, headers, router=router)
        assert response.status == 403
        assert response.body == f"You may not read stream 'user.{other}'.\n".encode()
        assert response.parser.events == [] and response.parser.retry is None
    assert hub.connection_count == 0


@ROUTED
async def test_a_user_reads_their_own_stream(hub: StreamHub, families: None, router: bool) -> None:
    pk, cookie = await sync_to_async(signed_in)("reader")
    response = await open_stream(f"/events/user.{pk}/", {"cookie": cookie}, router=router)
    await opened(response)
    await sync_to_async(publish)(f"user.{pk}", "followed", {"flight": "A1"})
    [event] = await response.read_events(1)
    assert (event.event, event.json(), event.last_event_id) == ("followed", {"flight": "A1"}, "1")
    await response.disconnect()


async def test_a_readers_decision_without_the_user_does_not_break_the_stream(hub: StreamHub) -> None:
    # Readers that look at the request's headers only, never at request.user: who reads must still
    # be known for the re-checks, without the ORM in the event loop's thread.
    declare_stream("keyed", readers=lambda request: request.headers.get("X-Key") == "open sesame")
    try:
        _, cookie = await sync_to_async(signed_in)("reader")
        assert (await refused("/events/keyed/", {"cookie": cookie})).status == 403
        response = await open_stream("/events/keyed/", {"cookie": cookie, "X-Key": "open sesame"})
        await opened(response)
        await response.disconnect()
    finally:
        forget_stream("keyed")
