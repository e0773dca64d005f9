"""publish(): the log, the per-stream counters, transactions and the channel-layer wake-up."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, channel_layers
from django.db import connection, transaction

from liveevents.models import Event, Stream
from liveevents.publish import (
    check_stream_name,
    encode_data,
    lock_streams,
    publish,
    publish_many,
    set_stream_closed,
)
from liveevents.wakeup import (
    ACCESS_GROUP,
    CONTROL_MESSAGE,
    EVENT_MESSAGE,
    announce_access_change,
    flush_wake_ups,
    group_name,
)


def logged(stream: str) -> list[tuple[int, str, str]]:
    return list(
        Event.objects.filter(stream_id=stream).order_by("sequence").values_list("sequence", "event", "data")
    )


class Boom(Exception):
    pass


class FailingLayer(InMemoryChannelLayer):
    """A channel layer whose group_send always fails, as an unreachable Redis would."""

    calls: list[tuple[str, dict[str, Any]]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        FailingLayer.calls.append((group, message))
        raise ConnectionError("channel layer is down")


# The log and its counters ----------------------------------------------------------------------


def test_publish_appends_events_with_contiguous_ids_per_stream(db: None) -> None:
    returned = [publish("alpha", "tick", {"n": n}) for n in range(3)]
    assert [e.sequence for e in returned] == [1, 2, 3]
    assert logged("alpha") == [(1, "tick", '{"n":0}'), (2, "tick", '{"n":1}'), (3, "tick", '{"n":2}')]
    assert Stream.objects.get(name="alpha").last_id == 3
    assert Stream.current_id("alpha") == 3


def test_two_streams_have_independent_counters(db: None) -> None:
    for n in range(3):
        publish("alpha", "a", str(n))
        publish("beta", "b", str(n))
    publish("alpha", "a", "3")
    assert [row[0] for row in logged("alpha")] == [1, 2, 3, 4]
    assert [row[0] for row in logged("beta")] == [1, 2, 3]
    assert Stream.current_id("alpha") == 4
    assert Stream.current_id("beta") == 3
    assert Stream.current_id("never-published") == 0


def test_publish_returns_the_saved_event(db: None) -> None:
    event = publish("alpha", "tick", "hello")
    assert event.pk is not None
    assert Event.objects.get(pk=event.pk) == event
    assert (event.stream_id, event.sequence, event.event, event.data) == ("alpha", 1, "tick", "hello")


def test_ids_stay_contiguous_with_concurrent_writers(transactional_db: None) -> None:
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for n in range(10):
                publish("busy", "tick", {"writer": number, "n": n})
        except BaseException as error:  # pragma: no cover - reported by the assert below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert [row[0] for row in logged("busy")] == list(range(1, 41))
    assert Stream.current_id("busy") == 40


# Data ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["hello", "", '{"already": "json"}', "line one\r\nline two\n", "  spaced  ", "Zürich 東京"]
)
def test_string_data_is_stored_as_it_is(db: None, text: str) -> None:
    publish("alpha", "tick", text)
    assert Event.objects.get().data == text


def test_data_defaults_to_empty_string(db: None) -> None:
    publish("alpha", "ping")
    assert Event.objects.get().data == ""


def test_dict_data_is_stored_as_compact_json(db: None) -> None:
    publish("alpha", "tick", {"flight": "I768", "list": [1, 2], "nested": {"a": None, "b": True}})
    stored = Event.objects.get().data
    assert stored == '{"flight":"I768","list":[1,2],"nested":{"a":null,"b":true}}'


def test_json_keeps_non_ascii_characters(db: None) -> None:
    publish("alpha", "tick", {"origin": "Zürich", "city": "東京"})
    assert Event.objects.get().data == '{"origin":"Zürich","city":"東京"}'


def test_json_uses_django_encoder_for_dates_decimals_and_uuids(db: None) -> None:
    identifier = uuid.UUID("12345678-1234-5678-1234-567812345678")
    publish(
        "alpha",
        "tick",
        {
            "date": datetime.date(2024, 1, 2),
            "time": datetime.time(10, 10),
            "when": datetime.datetime(2024, 1, 2, 10, 10, 5, tzinfo=datetime.UTC),
            "price": Decimal("12.50"),
            "id": identifier,
        },
    )
    assert json.loads(Event.objects.get().data) == {
        "date": "2024-01-02",
        "time": "10:10:00",
        "when": "2024-01-02T10:10:05Z",
        "price": "12.50",
        "id": "12345678-1234-5678-1234-567812345678",
    }


@pytest.mark.parametrize(("value", "text"), [([1, "a"], '[1,"a"]'), (3, "3"), (None, "null"), (True, "true")])
def test_non_string_data_of_any_json_type_is_encoded(value: Any, text: str) -> None:
    assert encode_data(value) == text


def test_data_that_json_cannot_encode_is_refused_and_nothing_written(db: None) -> None:
    with pytest.raises(TypeError):
        publish("alpha", "tick", {"x": object()})
    assert not Event.objects.exists()
    assert Stream.current_id("alpha") == 0


# Validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a\nb", "a\rb", "a\r\nb", "tick\n", "a\x00b", "tick\ndata: pwned"])
def test_bad_event_name_is_refused_at_publish_time_and_nothing_written(db: None, name: str) -> None:
    with pytest.raises(ValueError, match="event name"):
        publish("alpha", name, "data")
    assert not Event.objects.exists()
    assert not Stream.objects.exists()


@pytest.mark.parametrize(
    "name", ["", "a b", "a/b", "a:b", "é", "a\n", "x" * 81, "flights\r\nevil", ".", "..", "..."]
)
def test_invalid_stream_name_is_refused_and_nothing_written(db: None, name: Any) -> None:
    with pytest.raises(ValueError, match="stream name"):
        publish(name, "tick", "data")
    assert not Event.objects.exists()
    assert not Stream.objects.exists()


@pytest.mark.parametrize("name", [None, 5, b"bulletins"])
def test_a_stream_name_that_is_not_a_string_is_a_type_error(db: None, name: Any) -> None:
    with pytest.raises(TypeError, match="A stream name must be a str"):
        publish(name, "tick", "data")
    assert not Event.objects.exists()
    assert not Stream.objects.exists()


@pytest.mark.parametrize("name", ["a", "bulletins", "a.b-c_D9", "x" * 80])
def test_valid_stream_names_are_accepted(db: None, name: str) -> None:
    assert check_stream_name(name) == name
    publish(name, "tick")
    assert Stream.current_id(name) == 1


def test_group_name_is_prefixed_with_liveevents() -> None:
    assert group_name("bulletins") == "liveevents.bulletins"


# Transactions ----------------------------------------------------------------------------------


def test_rollback_publishes_nothing(db: None, django_capture_on_commit_callbacks: Any) -> None:
    publish("alpha", "tick", "before")
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(Boom), transaction.atomic():
        publish("alpha", "tick", "rolled back")
        publish("alpha", "tick", "rolled back too")
        raise Boom
    assert callbacks == []
    assert logged("alpha") == [(1, "tick", "before")]
    assert Stream.current_id("alpha") == 1
    # The next event takes the next id: no hole where the rolled-back ones were.
    publish("alpha", "tick", "after")
    assert [row[0] for row in logged("alpha")] == [1, 2]


def test_rollback_of_a_streams_first_event_leaves_no_counter(db: None) -> None:
    with pytest.raises(Boom), transaction.atomic():
        publish("fresh", "tick")
        raise Boom
    assert not Stream.objects.filter(name="fresh").exists()
    assert not Event.objects.exists()


def test_wake_up_waits_for_the_commit(db: None, django_capture_on_commit_callbacks: Any) -> None:
    from unittest import mock

    with mock.patch("liveevents.wakeup.wake_listeners") as wake:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            publish("alpha", "tick", {"n": 1})
        assert wake.call_count == 0  # still inside the transaction
        assert len(callbacks) == 1
        callbacks[0]()
    wake.assert_called_once_with(
        "alpha",
        {"type": EVENT_MESSAGE, "stream": "alpha", "id": 1, "event": "tick", "data": '{"n":1}'},
    )


async def listen(stream: str) -> tuple[InMemoryChannelLayer, str]:
    layer = channel_layers["default"]
    assert isinstance(layer, InMemoryChannelLayer)
    await layer.flush()
    channel = await layer.new_channel()
    await layer.group_add(group_name(stream), channel)
    return layer, channel


async def test_commit_sends_the_event_to_the_streams_group_on_the_channel_layer(
    transactional_db: None,
) -> None:
    layer, channel = await listen("alpha")
    try:
        before = time.time()
        await sync_to_async(publish)("alpha", "noteSaved", {"title": "x\ny"})
        message = await asyncio.wait_for(layer.receive(channel), 2)
        # Stamped at commit, for the hubs' commit-to-delivery histogram.
        assert before <= message.pop("committed_at") <= time.time()
        assert message == {
            "type": "liveevents.event",
            "stream": "alpha",
            "id": 1,
            "event": "noteSaved",
            "data": '{"title":"x\\ny"}',
        }
    finally:
        await layer.flush()


async def test_rolled_back_event_sends_no_wake_up(transactional_db: None) -> None:
    layer, channel = await listen("alpha")

    def rolled_back_then_committed() -> None:
        with pytest.raises(Boom), transaction.atomic():
            publish("alpha", "tick", "rolled back")
            raise Boom
        with transaction.atomic():
            publish("alpha", "tick", "committed")

    try:
        await sync_to_async(rolled_back_then_committed)()
        message = await asyncio.wait_for(layer.receive(channel), 2)
        assert (message["id"], message["data"]) == (1, "committed")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 0.3)
    finally:
        await layer.flush()


async def test_events_of_another_stream_do_not_reach_the_group(transactional_db: None) -> None:
    layer, channel = await listen("alpha")
    try:
        await sync_to_async(publish)("beta", "tick", "not for alpha")
        await sync_to_async(publish)("alpha", "tick", "for alpha")
        message = await asyncio.wait_for(layer.receive(channel), 2)
        assert (message["stream"], message["data"]) == ("alpha", "for alpha")
    finally:
        await layer.flush()


async def test_close_and_reopen_send_control_messages(transactional_db: None) -> None:
    layer, channel = await listen("alpha")
    try:
        await sync_to_async(set_stream_closed)("alpha", True)
        await sync_to_async(set_stream_closed)("alpha", False)
        first = await asyncio.wait_for(layer.receive(channel), 2)
        second = await asyncio.wait_for(layer.receive(channel), 2)
        assert first == {"type": CONTROL_MESSAGE, "stream": "alpha", "closed": True}
        assert second == {"type": CONTROL_MESSAGE, "stream": "alpha", "closed": False}
    finally:
        await layer.flush()


def test_failing_channel_layer_does_not_break_the_save(
    db: None, settings: Any, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.liveevents.test_publish.FailingLayer"}}
    FailingLayer.calls.clear()
    with caplog.at_level(logging.WARNING, logger="liveevents.wakeup"):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            event = publish("alpha", "tick", "still logged")
        flush_wake_ups()
    assert len(callbacks) == 1
    assert [group for group, _ in FailingLayer.calls] == ["liveevents.alpha"]
    assert logged("alpha") == [(1, "tick", "still logged")]
    assert event.sequence == 1
    assert "catch up from the log" in caplog.text


def test_failing_channel_layer_does_not_break_closing(
    db: None, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.liveevents.test_publish.FailingLayer"}}
    FailingLayer.calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        set_stream_closed("alpha", True)
    flush_wake_ups()
    assert len(FailingLayer.calls) == 1
    assert Stream.objects.get(name="alpha").closed


def test_publish_works_without_a_channel_layer(
    db: None, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CHANNEL_LAYERS = {}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        publish("alpha", "tick", "x")
    assert len(callbacks) == 1
    assert logged("alpha") == [(1, "tick", "x")]


def test_publish_uses_the_configured_channel_layer_alias(
    db: None, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
        "events": {"BACKEND": "tests.liveevents.test_publish.FailingLayer"},
    }
    settings.LIVEEVENTS = {"CHANNEL_LAYER": "events"}
    FailingLayer.calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        publish("alpha", "tick", "x")
    assert len(FailingLayer.calls) == 1


# Closing ---------------------------------------------------------------------------------------


def test_set_stream_closed_toggles_the_closed_flag(db: None) -> None:
    publish("alpha", "tick")
    set_stream_closed("alpha", True)
    assert Stream.objects.get(name="alpha").closed is True
    set_stream_closed("alpha", True)
    assert Stream.objects.get(name="alpha").closed is True
    set_stream_closed("alpha", False)
    stream = Stream.objects.get(name="alpha")
    assert stream.closed is False
    assert stream.last_id == 1  # the counter is untouched
    assert Event.objects.count() == 1  # closing is not a logged event


def test_closing_a_stream_that_never_published_creates_its_counter(db: None) -> None:
    set_stream_closed("quiet", True)
    stream = Stream.objects.get(name="quiet")
    assert (stream.closed, stream.last_id) == (True, 0)


def test_set_stream_closed_refuses_invalid_names(db: None) -> None:
    with pytest.raises(ValueError):
        set_stream_closed("not valid", True)
    assert not Stream.objects.exists()


def test_a_burst_in_one_transaction_sends_one_wake_up_per_stream_carrying_the_latest_event(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    from unittest import mock

    with mock.patch("liveevents.wakeup.wake_listeners") as wake:
        with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
            for n in range(5):
                publish("alpha", "tick", {"n": n})
            publish("beta", "tock", {"n": 0})
    assert len(callbacks) == 2
    sent = {call.args[0]: call.args[1]["id"] for call in wake.call_args_list}
    assert sent == {"alpha": 5, "beta": 1}


def test_a_wake_up_never_carries_an_event_of_a_rolled_back_savepoint(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    from unittest import mock

    with mock.patch("liveevents.wakeup.wake_listeners") as wake:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            publish("alpha", "tick", {"n": "kept"})
            with pytest.raises(Boom), transaction.atomic():
                publish("alpha", "tick", {"n": "rolled back"})
                raise Boom
    messages = [call.args[1] for call in wake.call_args_list]
    assert [(m["id"], m["data"]) for m in messages] == [(1, '{"n":"kept"}')]


# publish_many() --------------------------------------------------------------------------------


def test_publish_many_gives_contiguous_ids_per_stream_in_the_order_given(db: None) -> None:
    publish("alpha", "tick", "already there")
    returned = publish_many(
        [
            ("alpha", "tick", {"n": 1}),
            ("beta", "tock", "b1"),
            ("alpha", "tick", {"n": 2}),
            ("beta", "tock", "b2"),
            ("alpha", "tick", {"n": 3}),
        ]
    )
    assert [(e.stream_id, e.sequence, e.event, e.data) for e in returned] == [
        ("alpha", 2, "tick", '{"n":1}'),
        ("beta", 1, "tock", "b1"),
        ("alpha", 3, "tick", '{"n":2}'),
        ("beta", 2, "tock", "b2"),
        ("alpha", 4, "tick", '{"n":3}'),
    ]
    assert all(e.pk is not None for e in returned)
    assert [row[0] for row in logged("alpha")] == [1, 2, 3, 4]
    assert (Stream.current_id("alpha"), Stream.current_id("beta")) == (4, 2)
    publish("beta", "tock", "after")  # and publish() goes on from there
    assert [row[0] for row in logged("beta")] == [1, 2, 3]


def test_publish_many_accepts_any_iterable_and_nothing(db: None) -> None:
    assert publish_many([]) == []
    assert publish_many(iter([])) == []
    assert not Stream.objects.exists()
    logged_events = publish_many(("alpha", "tick", str(n)) for n in range(3))
    assert [e.sequence for e in logged_events] == [1, 2, 3]


def test_publish_many_over_more_streams_than_one_query_may_name(db: None) -> None:
    # SQLite caps a query's parameters: counters are created and locked a batch at a time.
    names = [f"s{n:04d}" for n in range(1200)]
    publish_many([(name, "tick", "") for name in names] + [(names[0], "tock", "")])
    assert Stream.objects.count() == 1200
    assert Event.objects.count() == 1201
    assert Stream.current_id("s0000") == 2
    assert Stream.current_id("s1199") == 1


@pytest.mark.parametrize(
    "bad",
    [
        ("not valid", "tick", "x"),
        ("alpha", "bad\nname", "x"),
        ("alpha", "", "x"),
        ("alpha", "tick", {"x": object()}),
    ],
    ids=["stream", "event", "empty-event", "data"],
)
def test_publish_many_writes_nothing_when_one_event_is_bad(db: None, bad: tuple[Any, Any, Any]) -> None:
    publish("alpha", "tick", "before")
    with pytest.raises((ValueError, TypeError)):
        publish_many([("alpha", "tick", "1"), ("beta", "tock", "2"), bad])
    assert logged("alpha") == [(1, "tick", "before")]
    assert Stream.current_id("alpha") == 1
    assert not Stream.objects.filter(name="beta").exists()


def test_publish_many_wakes_each_stream_once_with_its_latest_event(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    from unittest import mock

    with mock.patch("liveevents.wakeup.wake_listeners") as wake:
        with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
            publish_many([("alpha", "tick", str(n)) for n in range(50)] + [("beta", "tock", "b")])
            publish_many([("alpha", "tick", "50")])  # same transaction: the same wake-up
            publish("beta", "tock", "b2")
    assert sorted(callback.stream for callback in callbacks) == ["alpha", "beta"]
    sent = {call.args[0]: (call.args[1]["id"], call.args[1]["data"]) for call in wake.call_args_list}
    assert sent == {"alpha": (51, "50"), "beta": (2, "b2")}


async def test_publish_many_sends_one_layer_message_per_stream(transactional_db: None) -> None:
    layer, channel = await listen("alpha")
    sent: list[str] = []
    real = layer.group_send

    async def counting(group: str, message: dict[str, Any]) -> None:
        sent.append(group)
        await real(group, message)

    layer.group_send = counting  # type: ignore[method-assign]
    try:
        await sync_to_async(publish_many)(
            [("alpha", "tick", str(n)) for n in range(20)] + [("beta", "t", "")]
        )
        message = await asyncio.wait_for(layer.receive(channel), 2)
        assert (message["id"], message["data"]) == (20, "19")
        assert sorted(sent) == ["liveevents.alpha", "liveevents.beta"]
    finally:
        del layer.group_send
        await layer.flush()


def test_publish_many_rolled_back_publishes_nothing(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(Boom), transaction.atomic():
        publish_many([("alpha", "tick", "1"), ("beta", "tock", "2")])
        raise Boom
    assert callbacks == []
    assert not Event.objects.exists()
    assert not Stream.objects.exists()


def test_publish_many_tells_event_published_of_every_event(db: None) -> None:
    from liveevents.testing import capture_events

    with capture_events() as captured:
        publish_many([("alpha", "tick", "1"), ("beta", "tock", "2"), ("alpha", "tick", "3")])
    assert [(e.stream, e.id, e.data) for e in captured] == [
        ("alpha", 1, "1"),
        ("beta", 1, "2"),
        ("alpha", 2, "3"),
    ]


# lock_streams() ----------------------------------------------------------------------------------


def test_lock_streams_returns_the_counters_creating_the_missing_ones(db: None) -> None:
    publish("alpha", "tick", "1")
    with transaction.atomic():
        counters = lock_streams(["beta", "alpha", "alpha"])
        assert {name: counter.last_id for name, counter in counters.items()} == {"alpha": 1, "beta": 0}
        publish("beta", "tick", "2")  # a publish after it, in the same transaction, goes on
    assert Stream.current_id("beta") == 1


def test_lock_streams_outside_a_transaction_says_where_to_call_it(transactional_db: None) -> None:
    with pytest.raises(transaction.TransactionManagementError, match=r"inside transaction\.atomic\(\)"):
        lock_streams(["alpha"])


# announce_access_change() -------------------------------------------------------------------------


async def test_an_access_change_reaches_the_access_group_once_committed(transactional_db: None) -> None:
    layer, channel = await listen("unused")
    await layer.group_add(ACCESS_GROUP, channel)

    def announce_in_a_transaction() -> None:
        with transaction.atomic():
            announce_access_change(session_key="abc")
            with pytest.raises(Boom), transaction.atomic():
                announce_access_change(user_pk=9)
                raise Boom
        announce_access_change(user_pk=7)

    try:
        await sync_to_async(announce_in_a_transaction)()
        first = await asyncio.wait_for(layer.receive(channel), 2)
        second = await asyncio.wait_for(layer.receive(channel), 2)
        assert first == {"type": "liveevents.access", "session": "abc", "user": None}
        assert second == {"type": "liveevents.access", "session": None, "user": "7"}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 0.3)
    finally:
        await layer.flush()


# What publish() refuses: at the call, naming the problem, writing nothing, on every database -----

DATABASES = ["default", "postgres"]
BAD_EVENTS = [
    pytest.param("alpha", "tick", "lone \ud800 surrogate", ValueError, "lone surrogate", id="surrogate-text"),
    pytest.param("alpha", "tick", {"text": "x\udfffy"}, ValueError, "lone surrogate", id="surrogate-json"),
    pytest.param("alpha", "ti\ud83dck", "data", ValueError, "lone surrogate", id="surrogate-name"),
    pytest.param("alpha", 42, "data", TypeError, "event name must be a str", id="name-not-str"),
    pytest.param("alpha", b"tick", "data", TypeError, "event name must be a str", id="name-bytes"),
    pytest.param("alpha", "x" * 201, "data", ValueError, "at most 200", id="name-too-long"),
    pytest.param("alpha", "tick", {"v": float("nan")}, ValueError, "NaN and Infinity", id="nan"),
    pytest.param("alpha", "tick", [float("inf")], ValueError, "NaN and Infinity", id="infinity"),
    pytest.param("alpha", "tick", "a\x00b", ValueError, "NUL", id="nul"),
    pytest.param("alpha", "tick", {1j: "x"}, TypeError, "keys must be", id="not-json"),
    pytest.param("..", "tick", "data", ValueError, "dots only", id="dots"),
]


@pytest.mark.django_db(databases=DATABASES)
@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize(("stream", "event", "data", "error", "message"), BAD_EVENTS)
def test_a_bad_event_fails_at_the_call_and_writes_nothing(
    database: str, stream: Any, event: Any, data: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        publish(stream, event, data, using=database)
    with pytest.raises(error, match=message):
        publish_many([("beta", "fine", "ok"), (stream, event, data)], using=database)
    assert not Event.objects.using(database).exists()
    assert not Stream.objects.using(database).exists()


@pytest.mark.django_db(databases=DATABASES)
@pytest.mark.parametrize("database", DATABASES)
def test_data_over_max_event_bytes_is_refused(database: str, settings: Any) -> None:
    settings.LIVEEVENTS = {"MAX_EVENT_BYTES": 1000}
    publish("alpha", "tick", "é" * 500, using=database)  # 1,000 bytes of UTF-8: the limit itself
    with pytest.raises(ValueError, match=r"1,002 bytes once encoded; at most 1,000"):
        publish("alpha", "tick", "é" * 501, using=database)
    with pytest.raises(ValueError, match="MAX_EVENT_BYTES"):
        publish("alpha", "tick", {"text": "x" * 1000}, using=database)
    assert Event.objects.using(database).count() == 1


def test_max_event_bytes_defaults_to_one_mebibyte(db: None) -> None:
    with pytest.raises(ValueError, match="MAX_EVENT_BYTES"):
        publish("alpha", "tick", "x" * (1024 * 1024 + 1))
    assert publish("alpha", "tick", "x" * (1024 * 1024)).sequence == 1


@pytest.mark.django_db(databases=DATABASES)
@pytest.mark.parametrize("database", DATABASES)
def test_nul_inside_json_data_is_escaped_and_stored(database: str) -> None:
    event = publish("alpha", "tick", {"text": "a\x00b"}, using=database)
    stored = Event.objects.using(database).get(pk=event.pk).data
    assert stored == '{"text":"a\\u0000b"}'
    assert json.loads(stored) == {"text": "a\x00b"}
