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
from liveevents.streams import STAFF, declare_stream, forget_stream
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
    response = await open_stream(path, headers, method)
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
