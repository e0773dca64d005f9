"""liveevents.asgi.StreamRouter: which requests it serves itself, and that those behave as the view.

The rest of the stream tests run through the router too (tests/asgi_client.py, as flightboard
serves them); test_stream.py also runs every test through Django's view alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application

from liveevents.asgi import StreamRouter
from liveevents.hub import StreamHub
from liveevents.models import Stream
from liveevents.testing import StreamResponse

pytestmark = pytest.mark.timeout(30)

BULLETINS = "/events/bulletins/"


class CountingRouter(StreamRouter):
    """The router in front of Django's application, counting the requests it passes on."""

    def __init__(self) -> None:
        self.passed_on: list[str] = []
        django_app = get_asgi_application()

        async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
            self.passed_on.append(scope["path"])
            await django_app(scope, receive, send)

        super().__init__(inner)


async def request(
    router: CountingRouter,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    scheme: str = "http",
) -> StreamResponse:
    response = StreamResponse(router, path, headers, method)
    response.scope["scheme"] = scheme
    await response.start()
    return response


async def test_a_public_stream_is_served_without_django_and_streams_events(hub: StreamHub) -> None:
    router = CountingRouter()
    response = await request(router, BULLETINS)
    assert response.status == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["x-content-type-options"] == "nosniff"
    await response.read_until(lambda r: r.parser.retry is not None)
    assert hub.connection_count == 1

    from liveevents.publish import publish

    await sync_to_async(publish)("bulletins", "flightStateUpdate", {"flight": "R1"})
    events = await response.read_events(1)
    assert [e.event for e in events] == ["flightStateUpdate"]
    assert router.passed_on == []

    await response.disconnect()
    assert response.task is not None and response.task.done() and response.task.exception() is None
    assert hub.connection_count == 0


async def test_replay_and_bad_ids_on_the_direct_path(hub: StreamHub) -> None:
    from liveevents.publish import publish

    for i in range(3):
        await sync_to_async(publish)("bulletins", "flightStateUpdate", {"flight": f"R{i}"})
    router = CountingRouter()
    response = await request(router, BULLETINS, {"Last-Event-ID": "1"})
    events = await response.read_events(2)
    assert [e.last_event_id for e in events] == ["2", "3"]
    await response.disconnect()

    bad = await request(router, BULLETINS, {"Last-Event-ID": "-1"})
    await bad.read_to_end()
    assert bad.status == 400
    assert b"is not a non-negative integer" in bad.body
    assert router.passed_on == []
    assert hub.connection_count == 0


async def test_a_closed_stream_answers_204_on_the_direct_path(hub: StreamHub) -> None:
    await sync_to_async(Stream.objects.create)(name="bulletins", closed=True)
    router = CountingRouter()
    response = await request(router, BULLETINS)
    await response.read_to_end()
    assert response.status == 204
    assert router.passed_on == []


@pytest.mark.parametrize(
    ("path", "headers", "method", "status"),
    [
        # Streams that need a permission decision: Django's session and auth middleware.
        ("/events/notes/", {}, "GET", 403),
        # Cross-origin: django-cors-headers decides.
        (BULLETINS, {"Origin": "https://elsewhere.example"}, "GET", 200),
        # Not an SSE request, or not a GET: the view's 406 and 405.
        (BULLETINS, {"accept": "text/html"}, "GET", 406),
        (BULLETINS, {}, "POST", 405),
        # A Host not in ALLOWED_HOSTS: Django's 400.
        (BULLETINS, {"Host": "evil.example"}, "GET", 400),
        # A query string Django refuses (more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS): its 400.
        (BULLETINS + "?" + "x=1&" * 1001, {}, "GET", 400),
        # Unknown stream, other pages.
        ("/events/nosuch/", {}, "GET", 404),
        ("/", {}, "GET", 404),
    ],
)
async def test_everything_else_goes_to_django(
    hub: StreamHub, path: str, headers: dict[str, str], method: str, status: int
) -> None:
    router = CountingRouter()
    response = await request(router, path, headers, method)
    assert response.status == status
    assert router.passed_on == [path.partition("?")[0]]
    if status == 200 and path == BULLETINS:
        # django-cors-headers saw it: the origin is not on the allow-list, so no CORS header.
        assert "access-control-allow-origin" not in response.headers
        await response.read_until(lambda r: r.parser.retry is not None)
    else:
        await response.read_to_end()
    await response.disconnect()


async def test_a_client_gone_mid_stream_ends_the_handler_without_error(hub: StreamHub) -> None:
    router = CountingRouter()
    responses = [await request(router, BULLETINS) for _ in range(3)]
    for response in responses:
        await response.read_until(lambda r: r.parser.retry is not None)
    assert hub.connection_count == 3
    for response in responses:
        await response.disconnect()
        assert response.task is not None and response.task.exception() is None
    assert hub.connection_count == 0


async def test_a_public_stream_declared_later_is_served_directly(hub: StreamHub) -> None:
    # The router reads stream declarations at request time: a stream declared later is served too.
    from liveevents.streams import PUBLIC, declare_stream, forget_stream

    declare_stream("late", readers=PUBLIC)
    try:
        router = CountingRouter()
        response = await request(router, "/events/late/")
        assert response.status == 200
        await response.read_until(lambda r: r.parser.retry is not None)
        assert router.passed_on == []
        await response.disconnect()
    finally:
        forget_stream("late")


async def test_https_settings_hold_on_the_direct_path(hub: StreamHub, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    router = CountingRouter()
    # Plain http: SecurityMiddleware's redirect, from Django.
    redirected = await request(router, BULLETINS)
    await redirected.read_to_end()
    assert redirected.status == 301
    assert redirected.headers["location"] == "https://testserver/events/bulletins/"
    assert router.passed_on == [BULLETINS]
    # https: served directly, with the HSTS header SecurityMiddleware would add.
    secure = await request(router, BULLETINS, scheme="https")
    assert secure.status == 200
    assert secure.headers["strict-transport-security"] == "max-age=3600; includeSubDomains"
    assert router.passed_on == [BULLETINS]
    await secure.disconnect()


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("path", [BULLETINS, "/events/?stream=bulletins"])
async def test_router_and_view_send_the_same_headers(
    hub: StreamHub, settings: Any, scheme: str, path: str
) -> None:
    settings.SECURE_HSTS_SECONDS = 3600
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.clickjacking.XFrameOptionsMiddleware"]
    direct = StreamResponse(CountingRouter(), path)
    through_django = StreamResponse(get_asgi_application(), path)
    for response in (direct, through_django):
        response.scope["scheme"] = scheme
        await response.start()
        await response.disconnect()
    assert direct.status == through_django.status == 200
    assert direct.headers == through_django.headers
    assert direct.headers["x-content-type-options"] == "nosniff"
    assert direct.headers["referrer-policy"] == "same-origin"
    assert direct.headers["cross-origin-opener-policy"] == "same-origin"
    assert direct.headers["x-frame-options"] == "DENY"
    assert ("strict-transport-security" in direct.headers) is (scheme == "https")


async def test_public_family_members_are_served_directly_and_private_ones_by_django(hub: StreamHub) -> None:
    from liveevents.streams import PUBLIC, declare_stream, forget_stream, owner

    declare_stream("terminal.{code}", readers=PUBLIC)
    declare_stream("user.{id}", readers=owner("id"))
    try:
        router = CountingRouter()
        for path in ("/events/terminal.2/", "/events/?stream=terminal.1&stream=bulletins"):
            response = await request(router, path)
            assert response.status == 200
            await response.read_until(lambda r: r.parser.retry is not None)
            await response.disconnect()
        assert router.passed_on == []
        for path in ("/events/user.1/", "/events/?stream=terminal.1&stream=user.1"):
            response = await request(router, path)
            await response.read_to_end()
            assert response.status == 403
        assert router.passed_on == ["/events/user.1/", "/events/"]
    finally:
        forget_stream("terminal.{code}")
        forget_stream("user.{id}")
