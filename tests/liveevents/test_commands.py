"""liveevents' management commands: close_stream, open_stream, prune_events."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from liveevents.models import Event, Stream
from liveevents.publish import publish
from liveevents.streams import PUBLIC, declare_stream, forget_stream


def run(command: str, *args: str, **options: Any) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, **options)
    return out.getvalue()


def test_close_and_open_stream_toggle_the_closed_flag(db: None) -> None:
    assert "closed" in run("close_stream", "bulletins")
    assert Stream.objects.get(name="bulletins").closed is True
    assert "open" in run("open_stream", "bulletins")
    assert Stream.objects.get(name="bulletins").closed is False
    assert not Event.objects.exists()  # control events are not logged


@pytest.mark.parametrize("command", ["close_stream", "open_stream"])
def test_close_and_open_refuse_unknown_streams(db: None, command: str) -> None:
    with pytest.raises(CommandError, match=r"Unknown stream 'nope'\. Declared streams: bulletins, notes\."):
        run(command, "nope")
    assert not Stream.objects.exists()


@pytest.fixture
def terminals() -> Iterator[None]:
    declare_stream("terminal.{code}", readers=PUBLIC)
    yield
    forget_stream("terminal.{code}")


def test_close_stream_closes_one_member_of_a_family(db: None, terminals: None) -> None:
    publish("terminal.2", "tick")
    assert "Stream 'terminal.1' is now closed." in run("close_stream", "terminal.1")
    assert Stream.objects.get(name="terminal.1").closed is True
    assert Stream.objects.get(name="terminal.2").closed is False
    assert "Stream 'terminal.1' is now open." in run("open_stream", "terminal.1")
    assert Stream.objects.get(name="terminal.1").closed is False


@pytest.mark.parametrize("command", ["close_stream", "open_stream"])
def test_close_and_open_list_families_for_an_unknown_stream(db: None, terminals: None, command: str) -> None:
    with pytest.raises(
        CommandError,
        match=r"Unknown stream 'gate\.1'\. Declared streams: bulletins, notes, terminal\.\{code\}\.",
    ):
        run(command, "gate.1")
    with pytest.raises(
        CommandError, match=r"is not a stream of family 'terminal\.\{code\}'.*Declared streams"
    ):
        run(command, "terminal.a:b")
    assert not Stream.objects.exists()


def test_prune_prunes_one_member_of_a_family(db: None, terminals: None) -> None:
    for name in ("terminal.1", "terminal.2"):
        publish(name, "tick")
        publish(name, "tick")
    age(10)
    assert "Deleted 2 event(s)" in run("prune_events", "--days", "7", "--stream", "terminal.1")
    assert remaining("terminal.1") == []
    assert remaining("terminal.2") == [1, 2]


def age(days: float, **filters: Any) -> None:
    Event.objects.filter(**filters).update(created=timezone.now() - datetime.timedelta(days=days))


@pytest.fixture
def history(db: None) -> None:
    for n in range(1, 6):
        publish("bulletins", "tick", {"n": n})
        publish("notes", "noteSaved", {"n": n})
    age(10, sequence__lte=2)  # ids 1, 2 of both streams: 10 days old
    age(5, sequence=3)  # id 3 of both streams: 5 days old


def remaining(stream: str) -> list[int]:
    return list(
        Event.objects.filter(stream_id=stream).order_by("sequence").values_list("sequence", flat=True)
    )


def test_prune_deletes_only_events_older_than_days(history: None) -> None:
    output = run("prune_events", "--days", "7")
    assert "Deleted 4 event(s) older than 7 day(s)." in output
    assert remaining("bulletins") == [3, 4, 5]
    assert remaining("notes") == [3, 4, 5]
    assert Stream.current_id("bulletins") == 5  # the counter never goes back


def test_prune_with_fewer_days_deletes_more(history: None) -> None:
    run("prune_events", "--days", "1")
    assert remaining("bulletins") == [4, 5]


def test_prune_respects_stream(history: None) -> None:
    output = run("prune_events", "--days", "7", "--stream", "notes")
    assert "Deleted 2 event(s)" in output
    assert remaining("bulletins") == [1, 2, 3, 4, 5]
    assert remaining("notes") == [3, 4, 5]


def test_prune_defaults_to_retention_days(history: None, settings: Any) -> None:
    settings.LIVEEVENTS = {"RETENTION_DAYS": 3}
    run("prune_events")
    assert remaining("bulletins") == [4, 5]


def test_prune_with_default_retention_of_seven_days(history: None, settings: Any) -> None:
    settings.LIVEEVENTS = {}
    run("prune_events")
    assert remaining("bulletins") == [3, 4, 5]


def test_prune_with_retention_days_none_keeps_everything(history: None, settings: Any) -> None:
    settings.LIVEEVENTS = {"RETENTION_DAYS": None}
    output = run("prune_events")
    assert "keeping every event" in output
    assert remaining("bulletins") == [1, 2, 3, 4, 5]
    assert remaining("notes") == [1, 2, 3, 4, 5]


def test_prune_with_explicit_days_overrides_retention_none(history: None, settings: Any) -> None:
    settings.LIVEEVENTS = {"RETENTION_DAYS": None}
    run("prune_events", "--days", "7")
    assert remaining("bulletins") == [3, 4, 5]


def test_prune_refuses_negative_days(history: None) -> None:
    with pytest.raises(CommandError, match="must not be negative"):
        run("prune_events", "--days", "-1")
    assert Event.objects.count() == 10
