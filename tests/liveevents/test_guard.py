"""AccessGuard: open connections to non-public streams lose them once their reader no longer may read.

Through the real endpoints: within REVALIDATE_INTERVAL after a change of permissions, staff status
or password, at once after a logout or a deactivation through the site; one decision per reader
and stream per interval, whatever the number of its connections; public streams never watched.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, channel_layers
from django.contrib.auth.models import Permission, User
from django.http import HttpRequest
from django.test import Client

from liveevents import guard as guard_module
from liveevents.hub import StreamHub, _hubs
from liveevents.publish import publish
from liveevents.streams import STAFF, declare_stream, forget_stream, permission
from liveevents.testing import StreamResponse
from liveevents.wakeup import ACCESS_GROUP
from tests.conftest import restart_hub
from tests.liveevents.asgi_client import open_stream

pytestmark = pytest.mark.timeout(30)

FORBIDDEN = "closedConnection"


@pytest.fixture(autouse=True)
def private_streams() -> Iterator[None]:
    """`ledger` for users with a permission and `staffroom` for staff, beside the test project's
    `notes` (signed-in users) and `bulletins` (public)."""
    declare_stream("ledger", readers=permission("notes.view_note"))
    declare_stream("staffroom", readers=STAFF)
    yield
    forget_stream("ledger")
    forget_stream("staffroom")


@pytest.fixture
async def revalidating(
    hub: StreamHub, settings: Any
) -> AsyncIterator[Callable[[float], Awaitable[StreamHub]]]:
    """A hub whose guard asks the readers again every `interval` seconds."""
    started: list[StreamHub] = []

    async def start(interval: float) -> StreamHub:
        settings.LIVEEVENTS = {**settings.LIVEEVENTS, "REVALIDATE_INTERVAL": interval}
        started.append(await restart_hub(hub))
        return started[-1]

    yield start
    for current in started:
        await current.aclose()
    _hubs.pop(asyncio.get_running_loop(), None)


class Person:
    """A user and one signed-in browser of theirs (a test Client holding its session)."""

    def __init__(self, username: str, **flags: Any) -> None:
        self.user = User.objects.create_user(username, password="pw", **flags)
        self.client = Client()
        self.client.force_login(self.user)
        self.cookie = f"sessionid={self.client.cookies['sessionid'].value}"

    def another_browser(self) -> str:
        """A second session of the same user: its cookie."""
        client = Client()
        client.force_login(self.user)
        return f"sessionid={client.cookies['sessionid'].value}"


def person(username: str, *permissions: str, **flags: Any) -> Person:
    someone = Person(username, **flags)
    for codename in permissions:
        someone.user.user_permissions.add(Permission.objects.get(codename=codename))
    return someone


async def streaming(path: str, cookie: str | None) -> StreamResponse:
    response = await open_stream(path, {"cookie": cookie} if cookie else {})
    assert response.status == 200, response.body
    await response.read_until(lambda r: r.parser.retry is not None)
    return response


async def watched() -> None:
    """Until the hub listens for access changes (it joins the group as its first guarded
    connection opens)."""
    layer = channel_layers["default"]
    assert isinstance(layer, InMemoryChannelLayer)
    while ACCESS_GROUP not in layer.groups:
        await asyncio.sleep(0.01)


def forbidden(response: StreamResponse) -> list[dict[str, Any]]:
    return [json.loads(e.data) for e in response.events if e.event == FORBIDDEN]


async def ended_forbidden(response: StreamResponse, stream: str, within: float) -> None:
    """The stream's own URL: closedConnection naming the stream and the reason, then the end."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    await response.read_to_end(timeout=within)
    assert loop.time() - began < within
    assert response.events[-1].event == FORBIDDEN
    assert json.loads(response.events[-1].data) == {"stream": stream, "reason": "forbidden"}
    assert response.finished


# Within the interval --------------------------------------------------------------------------


def demote(user: User) -> None:
    user.is_staff = False
    user.save()


def withdraw_permission(user: User) -> None:
    user.user_permissions.remove(Permission.objects.get(codename="view_note"))


def change_password(user: User) -> None:
    # Django signs out a user's other sessions when the password changes (the session hash).
    user.set_password("new password")
    user.save()


@pytest.mark.parametrize(
    ("stream", "flags", "revoke"),
    [
        ("staffroom", {"is_staff": True}, demote),
        ("ledger", {}, withdraw_permission),
        ("notes", {}, change_password),
    ],
    ids=["staff", "permission", "authenticated"],
)
async def test_a_reader_who_loses_access_loses_the_stream_within_the_interval(
    revalidating: Callable[[float], Awaitable[StreamHub]],
    stream: str,
    flags: dict[str, Any],
    revoke: Callable[[User], None],
) -> None:
    hub = await revalidating(0.3)
    reader = await sync_to_async(person)("reader", "view_note", **flags)
    response = await streaming(f"/events/{stream}/", reader.cookie)
    await sync_to_async(publish)(stream, "tick", "still allowed")
    await response.read_events(1)
    await asyncio.sleep(0.7)  # a few re-checks that still say yes
    assert not response.finished
    await sync_to_async(revoke)(reader.user)
    await ended_forbidden(response, stream, within=3)
    assert [e.data for e in response.events] == [
        "still allowed",
        json.dumps({"stream": stream, "reason": "forbidden"}),
    ]
    assert not hub.guard
    again = await open_stream(f"/events/{stream}/", {"cookie": reader.cookie})
    await again.read_to_end()
    assert again.status == 403


# At once --------------------------------------------------------------------------------------


async def test_logout_ends_the_sessions_private_streams_at_once(
    revalidating: Callable[[float], Awaitable[StreamHub]],
) -> None:
    await revalidating(60)
    reader = await sync_to_async(person)("reader", "view_note")
    elsewhere = await sync_to_async(reader.another_browser)()
    response = await streaming("/events/notes/", reader.cookie)
    other_session = await streaming("/events/notes/", elsewhere)
    await watched()
    await sync_to_async(reader.client.logout)()  # django.contrib.auth.logout()
    await ended_forbidden(response, "notes", within=3)
    # The user's other session is not signed out: it goes on.
    await sync_to_async(publish)("notes", "tick", "for the other browser")
    await other_session.read_events(1)
    assert [e.data for e in other_session.events] == ["for the other browser"]
    await other_session.disconnect()


async def test_logout_ends_every_private_stream_of_a_multiplexed_connection(
    revalidating: Callable[[float], Awaitable[StreamHub]],
) -> None:
    await revalidating(60)
    reader = await sync_to_async(person)("reader", "view_note")
    response = await streaming("/events/?stream=notes&stream=ledger&stream=bulletins", reader.cookie)
    await watched()
    await sync_to_async(reader.client.logout)()
    await response.read_events(2, timeout=3)
    assert sorted(forbidden(response), key=lambda data: data["stream"]) == [
        {"stream": "ledger", "reason": "forbidden"},
        {"stream": "notes", "reason": "forbidden"},
    ]
    # The public stream goes on after the private ones ended.
    await sync_to_async(publish)("bulletins", "tick", "public")
    await response.read_events(3)
    assert response.events[-1].data == "public"
    assert not response.finished
    await response.disconnect()


async def test_deactivation_ends_the_users_private_streams_at_once(
    revalidating: Callable[[float], Awaitable[StreamHub]],
) -> None:
    await revalidating(60)
    reader = await sync_to_async(person)("reader", "view_note")
    bystander = await sync_to_async(person)("bystander", "view_note")
    elsewhere = await sync_to_async(reader.another_browser)()
    responses = [
        await streaming("/events/ledger/", reader.cookie),
        await streaming("/events/ledger/", elsewhere),
    ]
    unaffected = await streaming("/events/ledger/", bystander.cookie)
    await watched()

    def deactivate() -> None:
        reader.user.is_active = False
        reader.user.save()

    await sync_to_async(deactivate)()
    for response in responses:
        await ended_forbidden(response, "ledger", within=3)
    await sync_to_async(publish)("ledger", "tick", "for the bystander")
    await unaffected.read_events(1)
    assert [e.data for e in unaffected.events] == ["for the bystander"]
    await unaffected.disconnect()


async def test_saving_an_active_user_ends_nothing(
    revalidating: Callable[[float], Awaitable[StreamHub]],
) -> None:
    await revalidating(60)
    reader = await sync_to_async(person)("reader")
    response = await streaming("/events/notes/", reader.cookie)
    await watched()
    reader.user.first_name = "Ada"
    await sync_to_async(reader.user.save)()
    await sync_to_async(publish)("notes", "tick", "still here")
    await response.read_events(1)
    assert [e.event for e in response.events] == ["tick"]
    await response.disconnect()


# The multiplexed endpoint ------------------------------------------------------------------------


async def test_the_public_stream_goes_on_after_the_private_one_is_forbidden(
    revalidating: Callable[[float], Awaitable[StreamHub]],
) -> None:
    await revalidating(0.3)
    reader = await sync_to_async(person)("reader", "view_note")
    response = await streaming("/events/?stream=bulletins&stream=ledger", reader.cookie)
    await sync_to_async(withdraw_permission)(reader.user)
    await response.read_events(1, timeout=3)
    assert [(e.event, json.loads(e.data)) for e in response.events] == [
        (FORBIDDEN, {"stream": "ledger", "reason": "forbidden"})
    ]
    await sync_to_async(publish)("ledger", "tick", "not for them any more")
    await sync_to_async(publish)("bulletins", "tick", "public")
    await response.read_events(2)
    assert [(e.data, e.last_event_id.split(",")[0]) for e in response.events[1:]] == [
        ("public", "bulletins:1")
    ]
    await asyncio.sleep(0.7)  # later re-checks forbid nothing more
    assert len(response.events) == 2 and not response.finished
    await response.disconnect()


# What it costs -------------------------------------------------------------------------------


@pytest.fixture
def counted() -> Iterator[list[tuple[Any, ...]]]:
    """A stream whose readers count their decisions: (user pk, stream parameters)."""
    calls: list[tuple[Any, ...]] = []

    def readers(request: HttpRequest, **params: str) -> bool:
        calls.append((request.user.pk, params))
        return bool(request.user.is_authenticated)

    declare_stream("counted", readers=readers)
    declare_stream("desk.{code}", readers=readers)
    yield calls
    forget_stream("counted")
    forget_stream("desk.{code}")


async def test_the_decision_is_taken_once_per_reader_and_stream_not_per_connection(
    revalidating: Callable[[float], Awaitable[StreamHub]], counted: list[tuple[Any, ...]]
) -> None:
    hub = await revalidating(60)
    reader = await sync_to_async(person)("reader")
    other = await sync_to_async(person)("other")
    responses = [await streaming("/events/counted/", reader.cookie) for _ in range(5)]
    responses.append(await streaming("/events/?stream=counted&stream=desk.7", reader.cookie))
    responses += [await streaming("/events/counted/", other.cookie) for _ in range(3)]
    assert len(counted) == 10  # each connection's own check as it opened
    counted.clear()
    await hub.guard.revalidate()
    # Six connections of one session on two streams, three of another on one: three decisions.
    assert sorted(counted, key=repr) == sorted(
        [(reader.user.pk, {}), (reader.user.pk, {"code": "7"}), (other.user.pk, {})], key=repr
    )
    for response in responses:
        assert not response.finished
        await response.disconnect()
    assert not hub.guard


async def test_re_checks_follow_the_interval_whatever_the_number_of_connections(
    revalidating: Callable[[float], Awaitable[StreamHub]], counted: list[tuple[Any, ...]]
) -> None:
    await revalidating(0.25)
    reader = await sync_to_async(person)("reader")
    responses = [await streaming("/events/counted/", reader.cookie) for _ in range(5)]
    counted.clear()
    await asyncio.sleep(1.1)
    # About four intervals: about four decisions, where one per connection would be twenty.
    assert 1 <= len(counted) <= 6, counted
    for response in responses:
        await response.disconnect()


async def test_readers_that_fail_keep_the_stream_until_they_answer_no(
    revalidating: Callable[[float], Awaitable[StreamHub]], caplog: pytest.LogCaptureFixture
) -> None:
    hub = await revalidating(60)
    answers = iter([True, RuntimeError("the database hiccupped"), True, False])

    def readers(request: HttpRequest) -> bool:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    declare_stream("fragile", readers=readers)
    try:
        reader = await sync_to_async(person)("reader")
        response = await streaming("/events/fragile/", reader.cookie)
        await hub.guard.revalidate()  # fails: a refused client would not come back, so it stays
        assert "asking again next interval" in caplog.text
        await hub.guard.revalidate()  # yes
        assert hub.guard.readers
        await hub.guard.revalidate()  # no
        await ended_forbidden(response, "fragile", within=3)
    finally:
        forget_stream("fragile")


async def test_a_re_check_sees_the_query_string_and_cookies_of_the_request(
    revalidating: Callable[[float], Awaitable[StreamHub]],
) -> None:
    hub = await revalidating(60)
    seen: list[tuple[str | None, bool]] = []

    def readers(request: HttpRequest) -> bool:
        seen.append((request.GET.get("token"), bool(request.COOKIES)))
        return request.GET.get("token") == "open-sesame"

    declare_stream("tokened", readers=readers)
    try:
        reader = await sync_to_async(person)("reader")
        response = await streaming("/events/tokened/?token=open-sesame", reader.cookie)
        await hub.guard.revalidate()
        assert seen == [("open-sesame", True), ("open-sesame", True)]
        assert hub.guard.readers  # still allowed
        await response.disconnect()
    finally:
        forget_stream("tokened")


async def test_requests_with_other_credentials_are_decided_apart(
    revalidating: Callable[[float], Awaitable[StreamHub]],
) -> None:
    hub = await revalidating(60)
    revoked: set[str] = set()

    def readers(request: HttpRequest) -> bool:
        token = request.GET.get("token", "")
        return token.startswith("key-") and token not in revoked

    declare_stream("keyed", readers=readers)
    try:
        kept = await streaming("/events/keyed/?token=key-a", None)
        lost = await streaming("/events/keyed/?token=key-b", None)
        assert len(hub.guard.readers) == 2  # anonymous both, yet not one reader
        revoked.add("key-b")
        await hub.guard.revalidate()
        await ended_forbidden(lost, "keyed", within=3)
        assert len(hub.guard.readers) == 1
        await kept.disconnect()
    finally:
        forget_stream("keyed")


async def test_public_streams_are_never_watched(
    revalidating: Callable[[float], Awaitable[StreamHub]], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = await revalidating(0.1)
    decisions: list[Any] = []

    def decide(asked: Any) -> list[Any]:
        decisions.append(asked)
        return []

    monkeypatch.setattr(guard_module, "_decide", decide)
    reader = await sync_to_async(person)("reader", "view_note")
    responses = [await streaming("/events/bulletins/", reader.cookie) for _ in range(3)]
    responses.append(await streaming("/events/?stream=bulletins", reader.cookie))
    await asyncio.sleep(0.5)
    assert decisions == []
    assert not hub.guard
    assert hub.guard._loop is None
    layer = channel_layers["default"]
    assert isinstance(layer, InMemoryChannelLayer)
    assert ACCESS_GROUP not in layer.groups
    for response in responses:
        await response.disconnect()


async def test_the_guard_forgets_connections_that_ended(
    revalidating: Callable[[float], Awaitable[StreamHub]],
) -> None:
    hub = await revalidating(60)
    reader = await sync_to_async(person)("reader", "view_note")
    first = await streaming("/events/?stream=ledger&stream=notes", reader.cookie)
    second = await streaming("/events/ledger/", reader.cookie)
    [watched_reader] = hub.guard.readers
    assert set(hub.guard.readers[watched_reader].subscriptions) == {"ledger", "notes"}
    await first.disconnect()
    assert set(hub.guard.readers[watched_reader].subscriptions) == {"ledger"}
    await second.disconnect()
    assert not hub.guard
    assert hub.guard.reader_of == {}
    assert hub.guard._loop is None
    layer = channel_layers["default"]
    assert isinstance(layer, InMemoryChannelLayer)
    while ACCESS_GROUP in layer.groups:  # left, once nothing is guarded
        await asyncio.sleep(0.01)
