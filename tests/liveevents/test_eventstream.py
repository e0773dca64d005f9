"""send_event(): django-eventstream's examples, moved to liveevents by changing one import.

The django-eventstream project they come from:

    # urls.py
    path("events/", include(django_eventstream.urls), {"channels": ["test"]}),
    path("rooms/<room_id>/events/", include(django_eventstream.urls),
         {"format-channels": ["room-{room_id}"]}),

    # channelmanager.py
    class MyChannelManager(DefaultChannelManager):
        def can_read_channel(self, user, channel):
            if channel.startswith("user-"):
                return user is not None and channel == f"user-{user.id}"
            return True

    # anywhere
    from django_eventstream import send_event
    send_event("test", "message", {"text": "hello world"})

Here the channels become declared streams (the `ported` fixture), the import below is the only
change to the code that sends, and clients read `/events/<channel>/` over the ASGI application.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import transaction

from liveevents.eventstream import send_event
from liveevents.hub import StreamHub
from liveevents.models import Event
from liveevents.streams import PUBLIC, UnknownStream, declare_stream, forget_stream, owner
from liveevents.testing import StreamResponse, capture_events
from tests.liveevents.asgi_client import open_stream
from tests.liveevents.test_stream_access import session_cookie_for

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def ported() -> Iterator[None]:
    """The project's channels, declared: `channels` and `format-channels` in its urls.py become a
    stream and a family, its ChannelManager.can_read_channel the readers."""
    declare_stream("test", readers=PUBLIC)
    declare_stream("room-{room_id}", readers=PUBLIC)
    declare_stream("user-{id}", readers=owner("id"))
    yield
    for name in ("test", "room-{room_id}", "user-{id}"):
        forget_stream(name)


@pytest.fixture(params=["router", "django"])
def served_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each stream test through liveevents' StreamRouter and through Django's view alone."""
    import tests.liveevents.asgi_client

    served: str = request.param
    monkeypatch.setattr(tests.liveevents.asgi_client, "ROUTER", served == "router")
    return served


async def started(path: str, headers: dict[str, str] | None = None) -> StreamResponse:
    response = await open_stream(path, headers)
    assert response.status == 200, response.body
    await response.read_until(lambda r: r.parser.retry is not None)
    return response


# The examples, over the ASGI application ---------------------------------------------------------


async def test_readme_hello_world_reaches_a_client(hub: StreamHub, served_by: str) -> None:
    response = await started("/events/test/")
    await sync_to_async(send_event)("test", "message", {"text": "hello world"})
    [event] = await response.read_events(1)
    assert (event.event, json.loads(event.data), event.last_event_id) == (
        "message",
        {"text": "hello world"},
        "1",
    )
    await response.disconnect()


async def test_chat_message_reaches_its_rooms_clients_only(hub: StreamHub, served_by: str) -> None:
    room_1 = await started("/events/room-1/")
    room_2 = await started("/events/room-2/")

    def chat() -> None:
        send_event("room-1", "message", {"from": "ann", "text": "hi"})
        send_event("room-2", "message", {"from": "bob", "text": "hello"})

    await sync_to_async(chat)()
    [in_room_1] = await room_1.read_events(1)
    [in_room_2] = await room_2.read_events(1)
    assert json.loads(in_room_1.data) == {"from": "ann", "text": "hi"}
    assert json.loads(in_room_2.data) == {"from": "bob", "text": "hello"}
    assert in_room_1.last_event_id == in_room_2.last_event_id == "1"  # each room counts its own
    await room_1.disconnect()
    await room_2.disconnect()


async def test_per_user_channel_reaches_its_user(hub: StreamHub, served_by: str) -> None:
    cookie = await sync_to_async(session_cookie_for)("ann")
    ann = await User.objects.aget(username="ann")
    response = await started(f"/events/user-{ann.pk}/", {"cookie": cookie})
    await sync_to_async(send_event)(f"user-{ann.pk}", "message", {"text": "your gate is B12"})
    [event] = await response.read_events(1)
    assert (event.event, json.loads(event.data)) == ("message", {"text": "your gate is B12"})
    await response.disconnect()


async def test_per_user_channel_refuses_other_users_and_anonymous_clients(
    hub: StreamHub, served_by: str
) -> None:
    await sync_to_async(session_cookie_for)("ann")
    bob_cookie = await sync_to_async(session_cookie_for)("bob")
    ann = await User.objects.aget(username="ann")
    await sync_to_async(send_event)(f"user-{ann.pk}", "message", {"text": "secret"})
    for headers in ({"cookie": bob_cookie, "Last-Event-ID": "0"}, {"Last-Event-ID": "0"}):
        response = await open_stream(f"/events/user-{ann.pk}/", headers)
        await response.read_to_end()
        await response.disconnect()
        assert response.status == 403
        assert b"secret" not in response.body


async def test_channels_chosen_by_query_come_over_one_connection(hub: StreamHub, served_by: str) -> None:
    # django-eventstream's `/events/?channel=test&channel=room-1`
    response = await started("/events/?stream=test&stream=room-1")

    def send() -> None:
        send_event("room-1", "message", {"text": "in the room"})
        send_event("test", "message", {"text": "hello world"})

    await sync_to_async(send)()
    events = await response.read_events(2)
    assert [json.loads(e.data)["text"] for e in events] == ["in the room", "hello world"]
    assert [e.last_event_id for e in events] == ["room-1:1,test:0", "test:1,room-1:1"]
    await response.disconnect()


async def test_an_event_reaches_clients_only_when_its_transaction_commits(
    hub: StreamHub, served_by: str
) -> None:
    response = await started("/events/test/")

    def send_in_transactions() -> None:
        with transaction.atomic():
            send_event("test", "message", {"n": 1})
            transaction.set_rollback(True)
        with transaction.atomic():
            send_event("test", "message", {"n": 2})

    await sync_to_async(send_in_transactions)()
    [event] = await response.read_events(1)
    assert (json.loads(event.data), event.last_event_id) == ({"n": 2}, "1")
    await response.disconnect()


# Data and options --------------------------------------------------------------------------------


def test_data_is_json_encoded_with_djangos_encoder(db: None) -> None:
    when = datetime.datetime(2026, 12, 6, 9, 30, tzinfo=datetime.UTC)
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    with capture_events("test") as events:
        send_event("test", "message", {"at": when, "price": decimal.Decimal("1.50"), "key": key})
        send_event("test", "message", "hello")
    assert [event.json() for event in events] == [
        {"at": "2026-12-06T09:30:00Z", "price": "1.50", "key": str(key)},
        "hello",
    ]
    assert events[1].data == '"hello"'  # a str is JSON too, as django-eventstream sends it


def test_json_encode_false_sends_the_text_as_it_is(db: None) -> None:
    with capture_events("test") as events:
        send_event("test", "message", "<li>one</li>\n<li>two</li>", json_encode=False)
    assert [(event.event, event.data) for event in events] == [("message", "<li>one</li>\n<li>two</li>")]


@pytest.mark.parametrize("skip_user_ids", [None, [], ()])
@pytest.mark.parametrize("async_publish", [True, False])
def test_async_publish_and_empty_skip_user_ids_change_nothing(
    db: None, async_publish: bool, skip_user_ids: list[str] | None
) -> None:
    with capture_events() as events:
        logged = send_event(
            "room-7", "message", {"n": 1}, skip_user_ids=skip_user_ids, async_publish=async_publish
        )
    assert [(event.stream, event.id, event.json()) for event in events] == [("room-7", 1, {"n": 1})]
    assert (logged.stream_id, logged.sequence) == ("room-7", 1)


def test_send_event_returns_the_logged_event(db: None) -> None:
    first = send_event("test", "message", {"n": 1})
    second = send_event("test", "message", {"n": 2})
    assert [(e.sequence, e.event, e.data) for e in (first, second)] == [
        (1, "message", '{"n":1}'),
        (2, "message", '{"n":2}'),
    ]


# Errors ------------------------------------------------------------------------------------------


def test_undeclared_channel_says_what_to_declare(db: None) -> None:
    with pytest.raises(UnknownStream) as raised:
        send_event("orders", "message", {"text": "hello"})
    message = str(raised.value)
    assert "Unknown stream 'orders'." in message
    assert "declare_stream('orders', readers=...)" in message
    assert "declare_stream('user.{id}', readers=owner('id'))" in message
    assert isinstance(raised.value, LookupError)
    assert not Event.objects.exists()


def test_family_member_outside_the_parameter_grammar_is_refused(db: None) -> None:
    with pytest.raises(UnknownStream, match=r"family 'room-\{room_id\}'.*declare_stream\('room-a.b'"):
        send_event("room-a.b", "message", {"text": "hello"})
    assert not Event.objects.exists()


@pytest.mark.parametrize("channel", ["my channel", "", "x" * 81, "room:1"])
def test_channel_that_cannot_name_a_stream_is_refused(db: None, channel: str) -> None:
    with pytest.raises(ValueError, match="Invalid stream name"):
        send_event(channel, "message", {"text": "hello"})
    assert not Event.objects.exists()


@pytest.mark.parametrize("skip_user_ids", [["3"], [3, 4]])
def test_skip_user_ids_says_to_use_per_user_streams(db: None, skip_user_ids: list[str | int]) -> None:
    with pytest.raises(NotImplementedError, match=r"declare_stream\('user.\{id\}', readers=owner\('id'\)\)"):
        send_event("test", "message", {"text": "hello"}, skip_user_ids=skip_user_ids)
    assert not Event.objects.exists()


@pytest.mark.parametrize("data", [{"text": "hello"}, b"hello", None, 3])
def test_json_encode_false_needs_text(db: None, data: object) -> None:
    with pytest.raises(TypeError, match="must be a str"):
        send_event("test", "message", data, json_encode=False)
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("data", "json_encode", "message"),
    [
        ({"ratio": float("nan")}, True, "not valid JSON"),
        ("nul\0", False, "cannot contain NUL"),
        ("x" * (1024 * 1024 + 1), False, "MAX_EVENT_BYTES"),
    ],
)
def test_data_that_cannot_be_sent_is_refused(db: None, data: object, json_encode: bool, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        send_event("test", "message", data, json_encode=json_encode)
    assert not Event.objects.exists()


@pytest.mark.parametrize("event_type", ["two\nlines", "nul\0", ""])
def test_event_type_that_cannot_be_sent_is_refused(db: None, event_type: str) -> None:
    with pytest.raises(ValueError, match="event name"):
        send_event("test", event_type, {"text": "hello"})
    assert not Event.objects.exists()
