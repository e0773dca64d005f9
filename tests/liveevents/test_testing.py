"""liveevents.testing: what a project's own tests use to check what it publishes and streams."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.asgi import get_asgi_application
from django.db import transaction
from django.test import Client, TestCase, TransactionTestCase

from liveevents.hub import StreamHub
from liveevents.publish import publish
from liveevents.testing import CapturedEvent, capture_events, open_stream
from tests.notes.models import Bulletin, Note

# capture_events() --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_capture_collects_committed_events_in_commit_order() -> None:
    with capture_events() as events:
        bulletin = Bulletin.objects.create(text="Gate B12")
        pk = bulletin.pk
        with transaction.atomic():
            publish("notes", "noteSaved", {"id": 7})
            publish("bulletins", "tick", "plain text")
        bulletin.delete()
    assert events == [
        CapturedEvent("bulletins", 1, "bulletinSaved", f'{{"id":{pk},"text":"Gate B12"}}'),
        CapturedEvent("notes", 1, "noteSaved", '{"id":7}'),
        CapturedEvent("bulletins", 2, "tick", "plain text"),
        CapturedEvent("bulletins", 3, "bulletinRemoved", f'{{"id":{pk}}}'),
    ]
    assert events[0].json() == {"id": pk, "text": "Gate B12"}


@pytest.mark.django_db(transaction=True)
def test_capture_leaves_out_rolled_back_events_and_savepoints() -> None:
    with capture_events() as events:
        with pytest.raises(RuntimeError), transaction.atomic():
            publish("bulletins", "lost", "1")
            raise RuntimeError
        with transaction.atomic():
            publish("bulletins", "kept", "2")
            try:
                with transaction.atomic():
                    publish("bulletins", "undone", "3")
                    raise RuntimeError
            except RuntimeError:
                pass
    assert [e.event for e in events] == ["kept"]


@pytest.mark.django_db(transaction=True)
def test_capture_waits_for_the_commit() -> None:
    with capture_events() as events, transaction.atomic():
        publish("bulletins", "tick", "1")
        assert events == []  # not committed yet: listeners have not heard of it either
    assert [e.event for e in events] == ["tick"]


@pytest.mark.django_db(transaction=True)
def test_capture_of_one_stream_ignores_the_others() -> None:
    with capture_events("notes") as events:
        publish("bulletins", "tick", "1")
        Note.objects.create(title="only this")
    assert [(e.stream, e.event) for e in events] == [("notes", "noteSaved")]


@pytest.mark.django_db(transaction=True)
def test_capture_ends_with_its_block() -> None:
    with capture_events() as events:
        pass
    publish("bulletins", "tick", "1")
    assert events == []


def test_capture_works_inside_a_test_case_transaction(db: None) -> None:
    # pytest-django's db fixture wraps the test in a transaction that never commits, like TestCase.
    with capture_events() as events:
        Note.objects.create(title="in a test case")
        with pytest.raises(RuntimeError), transaction.atomic():
            publish("notes", "lost", "x")
            raise RuntimeError
    assert [e.event for e in events] == ["noteSaved"]


class CaptureInTestCase(TestCase):
    def test_events_of_the_code_under_test_are_captured(self) -> None:
        with capture_events() as events:
            Bulletin.objects.create(text="From a TestCase")
        assert [e.event for e in events] == ["bulletinSaved"]

    def test_with_capture_on_commit_callbacks_nothing_is_counted_twice(self) -> None:
        with self.captureOnCommitCallbacks(execute=True), capture_events() as events:
            Bulletin.objects.create(text="once")
        assert [e.event for e in events] == ["bulletinSaved"]


class CaptureInTransactionTestCase(TransactionTestCase):
    def test_events_are_captured_as_they_commit(self) -> None:
        with capture_events() as events:
            Bulletin.objects.create(text="committed")
            assert [e.event for e in events] == ["bulletinSaved"]


# open_stream() / StreamResponse ------------------------------------------------------------------


async def test_open_stream_reads_events_of_an_asgi_application(hub: StreamHub) -> None:
    application = get_asgi_application()
    async with open_stream(application, "/events/bulletins/") as response:
        assert response.status == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        await response.read_until(lambda r: r.parser.retry is not None)
        await sync_to_async(Bulletin.objects.create)(text="Gate B12")
        [event] = await response.read_events(1)
        assert (event.event, event.json()["text"], event.last_event_id) == ("bulletinSaved", "Gate B12", "1")
        assert response.ids == [1]
    assert response.task is not None and response.task.done()


async def test_read_events_times_out_when_nothing_comes(hub: StreamHub) -> None:
    async with open_stream(get_asgi_application(), "/events/bulletins/") as response:
        with pytest.raises(TimeoutError):
            await response.read_events(1, timeout=0.3)


async def test_a_refused_request_is_read_to_its_end(hub: StreamHub) -> None:
    async with open_stream(get_asgi_application(), "/events/nope/") as response:
        await response.read_to_end()
        assert (response.status, response.finished) == (404, True)
        assert b"Unknown stream 'nope'." in response.body


async def test_an_application_that_fails_shows_its_error_not_a_timeout() -> None:
    async def broken(scope: object, receive: object, send: object) -> None:
        raise LookupError("broken on purpose")

    with pytest.raises(LookupError, match="broken on purpose"):
        await asyncio.wait_for(open_stream(broken, "/").start(timeout=5), 2)


async def test_the_readme_example_reads_a_private_stream_with_a_session(hub: StreamHub) -> None:
    # As the README's "Testing your project" shows it, on this project's `notes` (signed-in users).
    await Note.objects.acreate(title="packed")
    client = Client()
    await sync_to_async(client.force_login)(await User.objects.acreate(username="ann"))
    headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}", "Last-Event-ID": "0"}
    async with open_stream(get_asgi_application(), "/events/notes/", headers) as response:
        assert response.status == 200
        [event] = await response.read_events(1)
    assert (event.event, event.json()["title"]) == ("noteSaved", "packed")
