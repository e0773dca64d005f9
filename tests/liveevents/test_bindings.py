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
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import models, transaction

from liveevents.bindings import ModelBinding, bind, primary_key_only, unbind
from liveevents.models import Event
from liveevents.streams import (
    PUBLIC,
    declare_stream,
    forget_stream,
)
from tests.notes.models import Bulletin, Note

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
        (3, "noteDeleted", {"pk": pk}),
    ]


def test_queryset_delete_publishes_one_removal_per_row(db: None) -> None:
    notes = [Note.objects.create(title=f"n{n}") for n in range(3)]
    Note.objects.filter(title__in=["n0", "n2"]).delete()
    deleted = [data["pk"] for _, name, data in events("notes") if name == "noteDeleted"]
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
        pk = note.pk
        note.delete()
        assert events(scratch_stream) == [
            (1, "scratchSaved", {"title": "both"}),
            (2, "scratchDeleted", {"pk": pk}),
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
