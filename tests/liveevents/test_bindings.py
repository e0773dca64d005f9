"""Bindings: model changes become events, in the change's transaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import models, transaction

from liveevents.bindings import (
    ModelBinding,
    bind,
    primary_key_only,
    publish_deleted,
    publish_saved,
    track_changes,
    unbind,
)
from liveevents.models import Event
from liveevents.streams import (
    PUBLIC,
    declare_stream,
    forget_stream,
)
from tests.notes.models import Bulletin, Note, Ticket

REPO = Path(__file__).resolve().parents[2]


def events(stream: str) -> list[tuple[int, str, Any]]:
    rows = (
        Event.objects.filter(stream_id=stream).order_by("sequence").values_list("sequence", "event", "data")
    )
    return [(sequence, name, json.loads(data)) for sequence, name, data in rows]


@pytest.fixture
def scratch_stream() -> Iterator[str]:
    """A stream declared for one test only."""
    declare_stream("scratch", readers=PUBLIC)
    yield "scratch"
    forget_stream("scratch")


@pytest.fixture
def bind_scratch(scratch_stream: str) -> Iterator[Callable[..., ModelBinding]]:
    """bind() on the scratch stream; every binding made is unbound after the test."""
    made: list[ModelBinding] = []

    def bind_to_scratch(model: type[models.Model], **options: Any) -> ModelBinding:
        binding = bind(model, stream=scratch_stream, **options)
        made.append(binding)
        return binding

    yield bind_to_scratch
    for binding in made:
        unbind(binding)


# tests.notes: a second app, bound to "notes" --------------------------------------------------


def test_note_create_update_delete_publish_in_order(db: None) -> None:
    note = Note.objects.create(title="First", body="line 1\nline 2")
    pk = note.pk
    note.title = "First, edited"
    note.save()
    note.delete()
    assert events("notes") == [
        (1, "noteSaved", {"id": pk, "title": "First", "body": "line 1\nline 2"}),
        (2, "noteSaved", {"id": pk, "title": "First, edited", "body": "line 1\nline 2"}),
        (3, "noteDeleted", {"id": pk, "title": "First, edited", "body": "line 1\nline 2"}),
    ]


def test_a_deleted_event_carries_what_the_saved_event_does_by_default(
    db: None, scratch_stream: str, bind_scratch: Callable[..., ModelBinding]
) -> None:
    # A client that finds its row by the saved event's "id" finds it on a delete too.
    bind_scratch(
        Note,
        saved_event="orderSaved",
        deleted_event="orderDeleted",
        serialize=lambda note: {"id": note.pk, "status": note.title},
    )
    note = Note.objects.create(title="packed")
    pk = note.pk
    note.delete()
    assert events(scratch_stream) == [
        (1, "orderSaved", {"id": pk, "status": "packed"}),
        (2, "orderDeleted", {"id": pk, "status": "packed"}),
    ]


def test_an_explicit_serialize_deleted_is_what_a_deleted_event_carries(
    db: None, scratch_stream: str, bind_scratch: Callable[..., ModelBinding]
) -> None:
    bind_scratch(
        Note,
        saved_event="saved",
        deleted_event="deleted",
        serialize=lambda note: {"id": note.pk, "title": note.title},
        serialize_deleted=primary_key_only,
    )
    note = Note.objects.create(title="x")
    pk = note.pk
    note.delete()
    assert events(scratch_stream)[-1] == (2, "deleted", {"pk": pk})


def test_queryset_delete_publishes_one_removal_per_row(db: None) -> None:
    notes = [Note.objects.create(title=f"n{n}") for n in range(3)]
    Note.objects.filter(title__in=["n0", "n2"]).delete()
    deleted = [data["id"] for _, name, data in events("notes") if name == "noteDeleted"]
    assert sorted(deleted) == sorted([notes[0].pk, notes[2].pk])


def test_bound_save_rolled_back_publishes_nothing(db: None) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        Note.objects.create(title="gone")
        raise RuntimeError
    assert events("notes") == []


# Raw saves (loaddata) --------------------------------------------------------------------------


def test_loaddata_publishes_nothing(db: None, tmp_path: Path) -> None:
    fixture = tmp_path / "notes.json"
    fixture.write_text(
        json.dumps(
            [
                {"model": "notes.note", "pk": 10, "fields": {"title": "From fixture", "body": ""}},
                {"model": "notes.bulletin", "pk": 20, "fields": {"text": "Gate B12"}},
            ]
        )
    )
    call_command("loaddata", str(fixture), verbosity=0)
    assert Note.objects.get(pk=10).title == "From fixture"
    assert Bulletin.objects.get(pk=20).text == "Gate B12"
    assert not Event.objects.exists()
    # A normal save of the same rows afterwards does publish.
    Note.objects.get(pk=10).save()
    assert [name for _, name, _ in events("notes")] == ["noteSaved"]


def test_raw_save_publishes_nothing(db: None) -> None:
    note = Note(pk=5, title="raw")
    note.save_base(raw=True)
    assert Note.objects.filter(pk=5).exists()
    assert not Event.objects.exists()


# bind() and unbind() ---------------------------------------------------------------------------


def test_bind_to_an_undeclared_stream_explains_how_to_declare_it() -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        bind(Note, stream="undeclared", saved_event="noteSaved", serialize=primary_key_only)
    message = str(raised.value)
    assert "notes.Note" in message
    assert "'undeclared'" in message
    assert "declare_stream('undeclared', readers=...)" in message


@pytest.mark.parametrize(
    "names",
    [
        {"saved_event": "bad\nname"},
        {"saved_event": "bad\rname"},
        {"saved_event": "bad\r\nname"},
        {"saved_event": "bad\x00name"},
        {"saved_event": "ok", "deleted_event": "bad\nname"},
        {"saved_event": "ok", "deleted_event": "bad\rname"},
    ],
)
def test_bind_with_an_unusable_event_name_is_improperly_configured(
    db: None, scratch_stream: str, names: dict[str, str]
) -> None:
    with pytest.raises(ImproperlyConfigured, match="CR, LF or NUL"):
        bind(Note, stream=scratch_stream, serialize=primary_key_only, **names)
    # Nothing was connected: saving and deleting a note publishes only on "notes".
    note = Note.objects.create(title="x")
    note.delete()
    assert events(scratch_stream) == []
    assert [name for _, name, _ in events("notes")] == ["noteSaved", "noteDeleted"]


@pytest.mark.parametrize("names", [{"saved_event": ""}, {"saved_event": "ok", "deleted_event": ""}])
def test_bind_with_an_empty_event_name_is_improperly_configured(
    db: None, scratch_stream: str, names: dict[str, str]
) -> None:
    # Accepted at bind time, an empty name would make every save (or delete) of the model raise.
    with pytest.raises(ImproperlyConfigured, match="empty"):
        bind(Note, stream=scratch_stream, serialize=primary_key_only, **names)
    note = Note.objects.create(title="x")
    note.delete()
    assert events(scratch_stream) == []


def test_a_second_binding_publishes_on_its_own_stream_until_unbound(db: None, scratch_stream: str) -> None:
    binding = bind(
        Note,
        stream=scratch_stream,
        saved_event="scratchSaved",
        deleted_event="scratchDeleted",
        serialize=lambda note: {"title": note.title},
    )
    assert isinstance(binding, ModelBinding)
    try:
        note = Note.objects.create(title="both")
        note.delete()
        assert events(scratch_stream) == [
            (1, "scratchSaved", {"title": "both"}),
            (2, "scratchDeleted", {"title": "both"}),
        ]
    finally:
        unbind(binding)
    note = Note.objects.create(title="after unbind")
    note.delete()
    assert len(events(scratch_stream)) == 2
    assert [name for _, name, _ in events("notes")] == ["noteSaved", "noteDeleted"] * 2


def test_binding_without_deleted_event_publishes_nothing_on_delete(
    db: None, scratch_stream: str, bind_scratch: Callable[..., ModelBinding]
) -> None:
    bind_scratch(Note, saved_event="saved", serialize=primary_key_only)
    note = Note.objects.create(title="x")
    note.delete()
    assert [name for _, name, _ in events(scratch_stream)] == ["saved"]


def test_bindings_made_by_a_test_are_gone_after_it(db: None) -> None:
    # bind_scratch's clean-up ran after the test above: scratch hears nothing now.
    declare_stream("scratch", readers=PUBLIC)
    try:
        Note.objects.create(title="after").delete()
        assert events("scratch") == []
    finally:
        forget_stream("scratch")


def test_unbind_stops_publishing(db: None) -> None:
    binding = bind(
        Note,
        stream="notes",
        saved_event="noteSaved",
        deleted_event="noteDeleted",
        serialize=lambda note: {"id": note.pk, "title": note.title, "body": note.body},
    )
    unbind(binding)
    try:
        note = Note.objects.create(title="silent")
        note.delete()
        assert not Event.objects.exists()
    finally:
        # Put tests.notes' own binding back (same receiver ids as NotesConfig.ready()).
        bind(
            Note,
            stream="notes",
            saved_event="noteSaved",
            deleted_event="noteDeleted",
            serialize=lambda note: {"id": note.pk, "title": note.title, "body": note.body},
        )
    Note.objects.create(title="heard again")
    assert [name for _, name, _ in events("notes")] == ["noteSaved"]


# liveevents stands on its own -----------------------------------------------------------------


@pytest.mark.parametrize("with_admin", [False, True], ids=["minimal", "with-admin"])
def test_liveevents_imports_and_works_without_flightboard(tmp_path: Path, with_admin: bool) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in (
            "DJANGO_SETTINGS_MODULE",
            "PYTHONPATH",
            "MINIMAL_SETTINGS_WITH_ADMIN",
            "MINIMAL_SETTINGS_BARE",
        )
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.notes.settings",
        PYTHONPATH=str(REPO),
        MINIMAL_SETTINGS_DIR=str(tmp_path),
        MINIMAL_SETTINGS_BARE="1",
    )
    if with_admin:
        env["MINIMAL_SETTINGS_WITH_ADMIN"] = "1"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "tests.notes.import_everything"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["flightboard"] == []
    for module in ("liveevents.sse", "liveevents.publish", "liveevents.hub", "liveevents.views",
                   "liveevents.bindings", "liveevents.checks", "liveevents.templatetags.liveevents",
                   "liveevents.management.commands.prune_events"):  # fmt: skip
        assert module in report["imported"]
    assert report["skipped"] == ([] if with_admin else ["liveevents.admin"])
    assert ("liveevents.admin" in report["imported"]) is with_admin
    assert report["logged"] == [["notes", 1, "noteSaved"]]


# Routed bindings: streams computed from the instance ----------------------------------------------


def ticket_streams(ticket: Ticket) -> list[str]:
    """Every ticket is on `tickets`; one filed in a queue is on `queue.<queue>` too."""
    return ["tickets", f"queue.{ticket.queue}"] if ticket.queue else ["tickets"]


@pytest.fixture
def routed() -> Iterator[ModelBinding[Ticket]]:
    """Tickets bound to `tickets` and their queue's stream, for one test."""
    declare_stream("tickets", readers=PUBLIC)
    declare_stream("queue.{name}", readers=PUBLIC)
    binding = bind(
        Ticket,
        streams=ticket_streams,
        saved_event="ticketSaved",
        deleted_event="ticketRemoved",
        serialize=lambda ticket: {"id": ticket.pk, "title": ticket.title, "queue": ticket.queue},
        serialize_deleted=lambda ticket: {"id": ticket.pk},
    )
    yield binding
    unbind(binding)
    forget_stream("tickets")
    forget_stream("queue.{name}")


def names(stream: str) -> list[tuple[str, Any]]:
    return [(name, data) for _, name, data in events(stream)]


def test_a_save_publishes_on_each_stream_of_the_instance(db: None, routed: ModelBinding[Ticket]) -> None:
    ticket = Ticket.objects.create(title="Broken lift", queue="a")
    saved = {"id": ticket.pk, "title": "Broken lift", "queue": "a"}
    assert events("tickets") == [(1, "ticketSaved", saved)]
    assert events("queue.a") == [(1, "ticketSaved", saved)]


def test_a_save_that_moves_an_instance_removes_it_from_the_stream_it_left_once(
    db: None, routed: ModelBinding[Ticket]
) -> None:
    ticket = Ticket.objects.create(title="Broken lift", queue="a")
    ticket.queue = "b"
    ticket.save()
    moved = {"id": ticket.pk, "title": "Broken lift", "queue": "b"}
    assert names("queue.a") == [
        ("ticketSaved", {**moved, "queue": "a"}),
        ("ticketRemoved", {"id": ticket.pk}),
    ]
    assert names("queue.b") == [("ticketSaved", moved)]
    assert [name for name, _ in names("tickets")] == ["ticketSaved", "ticketSaved"]
    # Saved again where it is: nothing more for the queue it left.
    ticket.title = "Lift fixed"
    ticket.save()
    assert len(events("queue.a")) == 2
    assert [name for name, _ in names("queue.b")] == ["ticketSaved", "ticketSaved"]


def test_a_save_that_takes_an_instance_off_every_routed_stream_removes_it_there(
    db: None, routed: ModelBinding[Ticket]
) -> None:
    ticket = Ticket.objects.create(title="Printer", queue="a")
    ticket.queue = ""
    ticket.save()
    assert names("queue.a")[-1] == ("ticketRemoved", {"id": ticket.pk})
    assert [name for name, _ in names("tickets")] == ["ticketSaved", "ticketSaved"]


def test_a_move_is_published_in_the_saves_transaction(
    db: None, routed: ModelBinding[Ticket], django_capture_on_commit_callbacks: Any
) -> None:
    ticket = Ticket.objects.create(title="Printer", queue="a")
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        ticket.queue = "b"
        ticket.save()
        # Logged with the row, in its transaction; nobody is woken before it commits.
        assert [name for name, _ in names("queue.a")] == ["ticketSaved", "ticketRemoved"]
        assert callbacks == []
    assert sorted(callback.stream for callback in callbacks) == ["queue.a", "queue.b", "tickets"]


def test_a_move_rolled_back_publishes_nothing(
    db: None, routed: ModelBinding[Ticket], django_capture_on_commit_callbacks: Any
) -> None:
    ticket = Ticket.objects.create(title="Printer", queue="a")
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        ticket.queue = "b"
        ticket.save()
        raise RuntimeError
    assert callbacks == []
    assert [name for name, _ in names("queue.a")] == ["ticketSaved"]
    assert events("queue.b") == []
    assert len(events("tickets")) == 1


def test_a_stale_instance_leaves_the_stream_the_row_is_in_not_the_one_it_remembers(
    db: None, routed: ModelBinding[Ticket]
) -> None:
    stale = Ticket.objects.create(title="Printer", queue="a")
    fresh = Ticket.objects.get(pk=stale.pk)
    fresh.queue = "b"
    fresh.save()  # a -> b
    stale.queue = "c"  # it still believes the ticket is in queue a
    stale.save()  # b -> c
    assert [name for name, _ in names("queue.a")] == ["ticketSaved", "ticketRemoved"]
    assert [name for name, _ in names("queue.b")] == ["ticketSaved", "ticketRemoved"]
    assert [name for name, _ in names("queue.c")] == ["ticketSaved"]


def test_a_save_of_an_unchanged_copy_sends_no_removal(db: None, routed: ModelBinding[Ticket]) -> None:
    ticket = Ticket.objects.create(title="Printer", queue="a")
    Ticket.objects.get(pk=ticket.pk).save()
    ticket.save()
    assert [name for name, _ in names("queue.a")] == ["ticketSaved"] * 3


def test_a_new_row_with_a_chosen_primary_key_is_only_saved(db: None, routed: ModelBinding[Ticket]) -> None:
    Ticket(pk=42, title="Printer", queue="a").save()
    assert names("queue.a") == [("ticketSaved", {"id": 42, "title": "Printer", "queue": "a"})]


def test_a_delete_publishes_the_deleted_event_on_each_stream(db: None, routed: ModelBinding[Ticket]) -> None:
    ticket = Ticket.objects.create(title="Printer", queue="a")
    pk = ticket.pk
    ticket.delete()
    assert names("queue.a")[-1] == ("ticketRemoved", {"id": pk})
    assert names("tickets")[-1] == ("ticketRemoved", {"id": pk})
    assert len(Event.objects.filter(event="ticketRemoved")) == 2


def test_a_routed_binding_removes_with_its_saved_data_by_default(db: None) -> None:
    declare_stream("desk.{name}", readers=PUBLIC)
    binding = bind(
        Ticket,
        streams=lambda ticket: [f"desk.{ticket.queue}"],
        saved_event="row",
        deleted_event="rowGone",
        serialize=lambda ticket: {"id": ticket.pk, "title": ticket.title, "desk": ticket.queue},
    )
    try:
        ticket = Ticket.objects.create(title="Printer", queue="a")
        pk = ticket.pk
        ticket.queue = "b"
        ticket.save()
        ticket.title = "Printer, fixed"
        publish_deleted([ticket])
        ticket.delete()
        # The stream it left hears of it as it is now, in the saved events' shape.
        moved = {"id": pk, "title": "Printer", "desk": "b"}
        assert names("desk.a") == [("row", {**moved, "desk": "a"}), ("rowGone", moved)]
        fixed = {**moved, "title": "Printer, fixed"}
        assert names("desk.b") == [("row", moved), ("rowGone", fixed), ("rowGone", fixed)]
    finally:
        unbind(binding)
        forget_stream("desk.{name}")


def test_a_routed_binding_without_a_deleted_event_sends_no_removals(
    db: None, routed: ModelBinding[Ticket]
) -> None:
    declare_stream("quiet.{name}", readers=PUBLIC)
    binding = bind(
        Ticket,
        streams=lambda ticket: [f"quiet.{ticket.queue}"],
        saved_event="ticketSaved",
        serialize=primary_key_only,
    )
    try:
        ticket = Ticket.objects.create(title="Printer", queue="a")
        ticket.queue = "b"
        ticket.save()
        ticket.delete()
        assert [name for name, _ in names("quiet.a")] == ["ticketSaved"]
        assert [name for name, _ in names("quiet.b")] == ["ticketSaved"]
    finally:
        unbind(binding)
        forget_stream("quiet.{name}")


def test_a_stream_named_twice_gets_one_event(db: None, routed: ModelBinding[Ticket]) -> None:
    binding = bind(
        Ticket, streams=lambda ticket: ["tickets", "tickets"], saved_event="twice", serialize=primary_key_only
    )
    try:
        Ticket.objects.create(title="Printer")
        assert [name for name, _ in names("tickets")] == ["ticketSaved", "twice"]
    finally:
        unbind(binding)


def test_two_routed_bindings_of_a_model_publish_each_on_its_own_streams(db: None) -> None:
    # A JSON stream and an HTML one, the same event name, two lambdas of one scope: two bindings.
    declare_stream("ticket-json.{queue}", readers=PUBLIC)
    declare_stream("ticket-html.{queue}", readers=PUBLIC)
    as_json = bind(
        Ticket,
        streams=lambda ticket: [f"ticket-json.{ticket.queue}"],
        saved_event="ticketSaved",
        deleted_event="ticketRemoved",
        serialize=lambda ticket: {"title": ticket.title},
    )
    as_html = bind(
        Ticket,
        streams=lambda ticket: [f"ticket-html.{ticket.queue}"],
        saved_event="ticketSaved",
        deleted_event="ticketRemoved",
        serialize=lambda ticket: f"<li>{ticket.title}</li>",
    )
    try:
        ticket = Ticket.objects.create(title="Printer", queue="a")
        ticket.queue = "b"
        ticket.save()
        publish_saved([ticket])
        ticket.delete()
        assert [(name, data) for _, name, data in events("ticket-json.a")] == [
            ("ticketSaved", {"title": "Printer"}),
            ("ticketRemoved", {"title": "Printer"}),
        ]
        assert [name for _, name, _ in events("ticket-json.b")] == ["ticketSaved"] * 2 + ["ticketRemoved"]
        html = Event.objects.filter(stream__name__startswith="ticket-html.").order_by("stream_id", "sequence")
        # Each binding's deleted events carry what its saved events do: HTML on the HTML streams.
        assert list(html.values_list("stream_id", "event", "data")) == [
            ("ticket-html.a", "ticketSaved", "<li>Printer</li>"),
            ("ticket-html.a", "ticketRemoved", "<li>Printer</li>"),
            ("ticket-html.b", "ticketSaved", "<li>Printer</li>"),
            ("ticket-html.b", "ticketSaved", "<li>Printer</li>"),
            ("ticket-html.b", "ticketRemoved", "<li>Printer</li>"),
        ]
    finally:
        unbind(as_json)
        unbind(as_html)
        forget_stream("ticket-json.{queue}")
        forget_stream("ticket-html.{queue}")


def test_binding_the_same_routed_function_again_replaces_the_binding(db: None) -> None:
    declare_stream("ticket-json.{queue}", readers=PUBLIC)

    def streams(ticket: Ticket) -> list[str]:
        return [f"ticket-json.{ticket.queue}"]

    made = [
        bind(Ticket, streams=streams, saved_event="ticketSaved", serialize=lambda ticket, n=n: {"n": n})
        for n in (1, 2)
    ]
    try:
        Ticket.objects.create(title="Printer", queue="a")
        # One binding, the latest: ready() run twice does not publish everything twice.
        assert [data for _, _, data in events("ticket-json.a")] == [{"n": 2}]
        assert len({binding.key for binding in made}) == 1
    finally:
        unbind(made[-1])
        forget_stream("ticket-json.{queue}")


@pytest.mark.parametrize(
    "route", [["tickets", "nowhere"], ["queue.a b"], [7]], ids=["undeclared", "grammar", "int"]
)
def test_routing_to_an_undeclared_stream_is_improperly_configured_naming_it(
    db: None, routed: ModelBinding[Ticket], route: list[Any]
) -> None:
    binding = bind(Ticket, streams=lambda ticket: route, saved_event="lost", serialize=primary_key_only)
    try:
        with pytest.raises(ImproperlyConfigured) as raised:
            Ticket.objects.create(title="Printer")
        message = str(raised.value)
        assert "The binding of notes.Ticket routed" in message
        assert repr(route[-1]) in message
        assert "not a declared stream nor a stream of a declared family" in message
        assert not Event.objects.filter(event="lost").exists()
    finally:
        unbind(binding)


@pytest.mark.parametrize(
    "where", [{}, {"stream": "tickets", "streams": ticket_streams}], ids=["neither", "both"]
)
def test_bind_takes_stream_or_streams_not_both_nor_neither(
    routed: ModelBinding[Ticket], where: dict[str, Any]
) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"with stream='name' \(one stream\) or streams=callable"):
        bind(Ticket, saved_event="x", serialize=primary_key_only, **where)


def test_bind_refuses_streams_that_are_not_callable(routed: ModelBinding[Ticket]) -> None:
    with pytest.raises(ImproperlyConfigured, match="streams must be a callable"):
        bind(Ticket, streams=["tickets"], saved_event="x", serialize=primary_key_only)  # type: ignore[arg-type]


def test_bind_to_one_member_of_a_family_is_allowed(db: None, routed: ModelBinding[Ticket]) -> None:
    binding = bind(Ticket, stream="queue.vip", saved_event="vip", serialize=primary_key_only)
    try:
        ticket = Ticket.objects.create(title="Printer")
        assert events("queue.vip") == [(1, "vip", {"pk": ticket.pk})]
    finally:
        unbind(binding)


# Bulk writes: publish_saved, publish_deleted, track_changes ---------------------------------------


def test_publish_saved_after_bulk_create_publishes_what_saves_would_have(
    db: None, routed: ModelBinding[Ticket]
) -> None:
    tickets = Ticket.objects.bulk_create(
        [Ticket(title="one", queue="a"), Ticket(title="two", queue="b"), Ticket(title="three", queue="a")]
    )
    assert not Event.objects.exists()  # bulk_create sends no signals
    logged = publish_saved(tickets)
    assert [(e.stream_id, e.sequence) for e in logged] == [
        ("tickets", 1),
        ("queue.a", 1),
        ("tickets", 2),
        ("queue.b", 1),
        ("tickets", 3),
        ("queue.a", 2),
    ]
    assert [data["title"] for _, _, data in events("tickets")] == ["one", "two", "three"]
    assert [data["title"] for _, _, data in events("queue.a")] == ["one", "three"]


def test_publish_saved_after_bulk_update(db: None, routed: ModelBinding[Ticket]) -> None:
    tickets = [Ticket.objects.create(title=f"t{n}", queue="a") for n in range(2)]
    for ticket in tickets:
        ticket.title += " (edited)"
    Ticket.objects.bulk_update(tickets, ["title"])
    publish_saved(tickets)
    assert [data["title"] for _, _, data in events("queue.a")] == ["t0", "t1", "t0 (edited)", "t1 (edited)"]


def test_publish_saved_reads_a_queryset_after_its_update(db: None, routed: ModelBinding[Ticket]) -> None:
    for n in range(3):
        Ticket.objects.create(title=f"t{n}", queue="a")
    Ticket.objects.filter(title__in=["t0", "t2"]).update(title="closed")
    publish_saved(Ticket.objects.filter(title="closed").order_by("pk"))
    assert [data["title"] for _, _, data in events("queue.a")] == ["t0", "t1", "t2", "closed", "closed"]


def test_publish_saved_wakes_each_stream_once_on_commit(
    db: None, routed: ModelBinding[Ticket], django_capture_on_commit_callbacks: Any
) -> None:
    tickets = Ticket.objects.bulk_create([Ticket(title=f"t{n}", queue="ab"[n % 2]) for n in range(10)])
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        publish_saved(tickets)
    assert sorted((c.stream, c.message["id"]) for c in callbacks) == [
        ("queue.a", 5),
        ("queue.b", 5),
        ("tickets", 10),
    ]


def test_publish_saved_of_nothing_publishes_nothing(db: None, routed: ModelBinding[Ticket]) -> None:
    assert publish_saved([]) == []
    assert publish_saved(Ticket.objects.none()) == []
    assert publish_saved(ContentType.objects.all()) == []  # a model without bindings
    assert not Event.objects.exists()


def test_publish_deleted_after_a_delete_without_signals(db: None, routed: ModelBinding[Ticket]) -> None:
    ticket = Ticket.objects.create(title="Printer", queue="a")
    Ticket.objects.filter(pk=ticket.pk)._raw_delete(Ticket.objects.db)
    publish_deleted([ticket])
    assert names("queue.a")[-1] == ("ticketRemoved", {"id": ticket.pk})
    assert names("tickets")[-1] == ("ticketRemoved", {"id": ticket.pk})


def test_track_changes_moves_rows_of_a_queryset_between_streams(
    db: None, routed: ModelBinding[Ticket]
) -> None:
    moving = [Ticket.objects.create(title=f"t{n}", queue="a") for n in range(2)]
    staying = Ticket.objects.create(title="stays", queue="c")
    Event.objects.all().delete()
    with track_changes(Ticket.objects.filter(queue="a")) as tickets:
        tickets.update(queue="b")
    left = [(name, data) for name, data in names("queue.a")]
    assert left == [("ticketRemoved", {"id": ticket.pk}) for ticket in moving]
    assert [(name, data["id"], data["queue"]) for name, data in names("queue.b")] == [
        ("ticketSaved", ticket.pk, "b") for ticket in moving
    ]
    assert [(name, data["id"]) for name, data in names("tickets")] == [("ticketSaved", t.pk) for t in moving]
    assert not Event.objects.filter(data__contains=f'"id":{staying.pk},').exists()


def test_track_changes_of_a_list_updated_in_bulk(db: None, routed: ModelBinding[Ticket]) -> None:
    tickets = [Ticket.objects.create(title=f"t{n}", queue="a") for n in range(3)]
    Event.objects.all().delete()
    with track_changes(tickets):
        tickets[0].queue = "b"
        tickets[1].title = "renamed"
        Ticket.objects.bulk_update(tickets, ["queue", "title"])
    assert names("queue.a") == [("ticketRemoved", {"id": tickets[0].pk})] + [
        ("ticketSaved", {"id": t.pk, "title": t.title, "queue": "a"}) for t in tickets[1:]
    ]
    assert [data["id"] for _, data in names("queue.b")] == [tickets[0].pk]


def test_track_changes_publishes_the_removal_of_rows_deleted_in_the_block_once(
    db: None, routed: ModelBinding[Ticket]
) -> None:
    tickets = [Ticket.objects.create(title=f"t{n}", queue="a") for n in range(3)]
    Event.objects.all().delete()
    with track_changes(Ticket.objects.filter(queue="a")) as queue:
        queue.filter(pk=tickets[0].pk).delete()  # sends post_delete: the binding publishes it
        queue.filter(pk=tickets[1].pk)._raw_delete(Ticket.objects.db)  # sends nothing
    removed = [data["id"] for name, data in names("queue.a") if name == "ticketRemoved"]
    assert sorted(removed) == [tickets[0].pk, tickets[1].pk]
    assert [data["id"] for name, data in names("queue.a") if name == "ticketSaved"] == [tickets[2].pk]


def test_track_changes_wakes_each_stream_once_on_commit(
    db: None, routed: ModelBinding[Ticket], django_capture_on_commit_callbacks: Any
) -> None:
    for n in range(6):
        Ticket.objects.create(title=f"t{n}", queue="a")
    with django_capture_on_commit_callbacks() as callbacks:
        with track_changes(Ticket.objects.all()) as tickets:
            tickets.update(queue="b")
    assert sorted((c.stream, c.message["id"]) for c in callbacks) == [
        ("queue.a", 12),
        ("queue.b", 6),
        ("tickets", 12),
    ]


def test_track_changes_rolled_back_publishes_nothing(
    db: None, routed: ModelBinding[Ticket], django_capture_on_commit_callbacks: Any
) -> None:
    Ticket.objects.create(title="t", queue="a")
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        with track_changes(Ticket.objects.all()) as tickets:
            tickets.update(queue="b")
            raise RuntimeError
    assert callbacks == []
    assert Ticket.objects.get().queue == "a"
    assert [name for name, _ in names("queue.a")] == ["ticketSaved"]
    assert events("queue.b") == []


def test_track_changes_needs_saved_rows(db: None, routed: ModelBinding[Ticket]) -> None:
    with pytest.raises(ValueError, match="track_changes\\(\\) needs saved rows"):
        with track_changes([Ticket(title="new")]):
            pass
    with track_changes([]):
        pass
    assert not Event.objects.exists()


# What a failing binding leaves behind, per write path ---------------------------------------------


def refuse(bulletin: Bulletin) -> object:
    raise ValueError(f"cannot serialise {bulletin.text!r}")


@pytest.mark.django_db(transaction=True)
def test_a_binding_that_fails_inside_a_transaction_rolls_the_save_back(
    bind_scratch: Callable[..., ModelBinding],
) -> None:
    bind_scratch(Bulletin, saved_event="scratchSaved", serialize=refuse)
    with pytest.raises(ValueError, match="cannot serialise"):
        with transaction.atomic():
            Bulletin.objects.create(text="bogus")
    assert not Bulletin.objects.filter(text="bogus").exists()
    assert events("scratch") == []


@pytest.mark.django_db(transaction=True)
def test_a_binding_that_fails_after_an_autocommit_save_logs_an_error_naming_the_row(
    bind_scratch: Callable[..., ModelBinding], caplog: pytest.LogCaptureFixture
) -> None:
    bind_scratch(Bulletin, saved_event="scratchSaved", serialize=refuse)
    with pytest.raises(ValueError, match="cannot serialise"):
        Bulletin.objects.create(text="bogus")
    # Django committed the row before post_save ran: it stays, without its event, and says so.
    row = Bulletin.objects.get(text="bogus")
    assert events("scratch") == []
    (record,) = [r for r in caplog.records if r.name == "liveevents.bindings"]
    assert record.levelname == "ERROR"
    assert f"notes.Bulletin pk={row.pk!r} was saved outside a transaction" in record.getMessage()
    assert "transaction.atomic()" in record.getMessage()


@pytest.mark.django_db(transaction=True)
def test_require_transaction_refuses_a_bound_save_outside_one_before_writing(
    bind_scratch: Callable[..., ModelBinding], settings: Any
) -> None:
    settings.LIVEEVENTS = {"REQUIRE_TRANSACTION": True}
    bind_scratch(Bulletin, saved_event="scratchSaved", serialize=lambda b: {"text": b.text})
    with pytest.raises(transaction.TransactionManagementError, match=r"save it inside transaction\.atomic"):
        Bulletin.objects.create(text="outside")
    assert not Bulletin.objects.filter(text="outside").exists()
    with transaction.atomic():
        Bulletin.objects.create(text="inside")
    assert [data for _, _, data in events("scratch")] == [{"text": "inside"}]


def test_a_row_stored_with_a_queue_no_stream_can_name_can_be_mended(
    db: None, routed: ModelBinding[Ticket]
) -> None:
    ticket = Ticket.objects.create(title="Broken lift", queue="a")
    Ticket.objects.filter(pk=ticket.pk).update(queue="a b")  # raw: queue.a b names no stream
    ticket.refresh_from_db()
    ticket.queue = "b"
    ticket.save()  # the "before" it cannot name is left out, not an error
    assert names("queue.b") == [("ticketSaved", {"id": ticket.pk, "title": "Broken lift", "queue": "b"})]
    assert [name for name, _ in names("tickets")] == ["ticketSaved", "ticketSaved"]
