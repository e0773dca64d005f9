"""Bindings (model changes become events) and stream declarations (who may read)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest
from django.test import RequestFactory

from flightboard.models import Flight
from liveevents.bindings import ModelBinding, bind, primary_key_only, unbind
from liveevents.models import Event
from liveevents.streams import (
    AUTHENTICATED,
    PUBLIC,
    STAFF,
    declare_stream,
    declared_streams,
    forget_stream,
    get_stream,
    permission,
)
from tests.notes.models import Note

REPO = Path(__file__).resolve().parent.parent


def events(stream: str) -> list[tuple[int, str, Any]]:
    rows = (
        Event.objects.filter(stream_id=stream).order_by("sequence").values_list("sequence", "event", "data")
    )
    return [(sequence, name, json.loads(data)) for sequence, name, data in rows]


@pytest.fixture
def scratch_stream() -> Iterator[str]:
    """A stream declared for one test only; whatever a test bound to it is disconnected afterwards."""
    declare_stream("scratch", readers=PUBLIC)
    yield "scratch"
    forget_stream("scratch")
    post_save.disconnect(sender=Note, dispatch_uid="liveevents:notes.Note:scratch:save")
    post_delete.disconnect(sender=Note, dispatch_uid="liveevents:notes.Note:scratch:delete")


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


# flightboard: Flight bound to "flights" --------------------------------------------------------


def test_flight_create_update_delete_publish_the_whole_row_then_the_removal(db: None) -> None:
    flight = Flight.objects.create(flight="I768", origin="Rome", arrival="10:10")
    flight.state = Flight.State.LANDING
    flight.save()
    flight.state = Flight.State.LANDED
    flight.save(update_fields=["state", "updated"])
    flight.delete()
    row = {"flight": "I768", "origin": "Rome", "arrival": "10:10"}
    assert events("flights") == [
        (1, "flightStateUpdate", {**row, "state": "", "state_label": "Scheduled"}),
        (2, "flightStateUpdate", {**row, "state": "landing", "state_label": "Landing"}),
        (3, "flightStateUpdate", {**row, "state": "landed", "state_label": "Landed"}),
        (4, "flightRemoval", {"flight": "I768"}),
    ]


@pytest.mark.parametrize(
    ("state", "label"),
    [("", "Scheduled"), ("delayed", "Delayed"), ("cancelled", "Cancelled"), ("diverted", "Diverted")],
)
def test_flight_event_carries_the_state_label(db: None, state: str, label: str) -> None:
    Flight.objects.create(flight="BA2490", origin="London", arrival="07:05", state=state)
    [(_, _, data)] = events("flights")
    assert (data["state"], data["state_label"], data["arrival"]) == (state, label, "07:05")


def test_flight_arrival_is_sent_as_hours_and_minutes_without_seconds(db: None) -> None:
    import datetime

    Flight.objects.create(flight="G119", origin="Tokyo", arrival=datetime.time(9, 5, 59))
    assert events("flights")[0][2]["arrival"] == "09:05"


# Raw saves (loaddata) --------------------------------------------------------------------------


def test_loaddata_publishes_nothing(db: None, tmp_path: Path) -> None:
    fixture = tmp_path / "board.json"
    fixture.write_text(
        json.dumps(
            [
                {"model": "notes.note", "pk": 10, "fields": {"title": "From fixture", "body": ""}},
                {
                    "model": "flightboard.flight",
                    "pk": 20,
                    "fields": {
                        "flight": "A123",
                        "origin": "London",
                        "arrival": "08:15",
                        "state": "",
                        "updated": "2024-01-01T00:00:00Z",
                    },
                },
            ]
        )
    )
    call_command("loaddata", str(fixture), verbosity=0)
    assert Note.objects.get(pk=10).title == "From fixture"
    assert Flight.objects.get(pk=20).flight == "A123"
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


def test_binding_without_deleted_event_publishes_nothing_on_delete(db: None, scratch_stream: str) -> None:
    binding = bind(Note, stream=scratch_stream, saved_event="saved", serialize=primary_key_only)
    try:
        note = Note.objects.create(title="x")
        note.delete()
        assert [name for _, name, _ in events(scratch_stream)] == ["saved"]
    finally:
        unbind(binding)


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


# declare_stream() ------------------------------------------------------------------------------


def test_apps_declare_their_streams_with_their_readers() -> None:
    streams = declared_streams()
    assert streams["flights"].readers is PUBLIC
    assert streams["notes"].readers is AUTHENTICATED
    assert get_stream("nope") is None


@pytest.mark.parametrize("readers", [None, "PUBLIC", True, 1, ["staff"]])
def test_declare_stream_without_callable_readers_is_improperly_configured(readers: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="readers must be"):
        declare_stream("scratch-bad", readers=readers)
    assert get_stream("scratch-bad") is None


def test_declare_stream_requires_readers_to_be_given() -> None:
    with pytest.raises(TypeError):
        declare_stream("scratch-bad")  # type: ignore[call-arg]
    assert get_stream("scratch-bad") is None


def test_declare_stream_refuses_an_invalid_name() -> None:
    with pytest.raises(ValueError):
        declare_stream("bad name", readers=PUBLIC)
    assert get_stream("bad name") is None


def test_redeclaring_a_stream_with_other_readers_is_refused(scratch_stream: str) -> None:
    assert declare_stream(scratch_stream, readers=PUBLIC).readers is PUBLIC  # same readers: fine
    with pytest.raises(ImproperlyConfigured, match="already declared"):
        declare_stream(scratch_stream, readers=STAFF)
    assert get_stream(scratch_stream).readers is PUBLIC  # type: ignore[union-attr]


def test_forget_stream_undeclares_it(scratch_stream: str) -> None:
    forget_stream(scratch_stream)
    assert get_stream(scratch_stream) is None
    forget_stream(scratch_stream)  # forgetting twice is harmless


# Readers ---------------------------------------------------------------------------------------


def request_as(user: Any) -> HttpRequest:
    request = RequestFactory().get("/events/notes/", HTTP_ACCEPT="text/event-stream")
    request.user = user
    return request


def make_user(username: str, **flags: Any) -> User:
    return User.objects.create_user(username, password="pw", **flags)


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    return {
        "anonymous": AnonymousUser(),
        "user": make_user("user"),
        "inactive": make_user("inactive", is_active=False),
        "staff": make_user("staff", is_staff=True),
        "inactive_staff": make_user("inactive_staff", is_staff=True, is_active=False),
        "superuser": User.objects.create_superuser("root", password="pw"),
        "inactive_superuser": User.objects.create_superuser("oldroot", password="pw", is_active=False),
    }


READER_EXPECTATIONS = {
    #                  anonymous user   inactive staff  inactive_staff superuser inactive_superuser
    "PUBLIC": (True, True, True, True, True, True, True),
    "AUTHENTICATED": (False, True, False, True, False, True, False),
    "STAFF": (False, False, False, True, False, True, False),
    "permission": (False, False, False, False, False, True, False),
}
PEOPLE = ["anonymous", "user", "inactive", "staff", "inactive_staff", "superuser", "inactive_superuser"]
READERS = {
    "PUBLIC": PUBLIC,
    "AUTHENTICATED": AUTHENTICATED,
    "STAFF": STAFF,
    "permission": permission("notes.view_note"),
}


@pytest.mark.parametrize("readers", READERS.keys())
def test_readers_decide_as_documented(people: dict[str, Any], readers: str) -> None:
    decide = READERS[readers]
    decisions = tuple(decide(request_as(people[who])) for who in PEOPLE)
    assert decisions == READER_EXPECTATIONS[readers]
    assert all(type(decision) is bool for decision in decisions)


def test_permission_readers_admit_users_who_were_given_the_permission(db: None) -> None:
    readers = permission("notes.view_note")
    user = make_user("reader")
    assert readers(request_as(user)) is False
    user.user_permissions.add(Permission.objects.get(codename="view_note", content_type__app_label="notes"))
    user = User.objects.get(pk=user.pk)  # fresh permission cache
    assert readers(request_as(user)) is True
    assert permission("notes.change_note")(request_as(user)) is False


def test_permission_readers_describe_themselves() -> None:
    assert "notes.view_note" in (permission("notes.view_note").__doc__ or "")


# liveevents stands on its own -----------------------------------------------------------------

IMPORT_EVERYTHING = r"""
import importlib, json, pkgutil, sys
import django
django.setup()
from django.apps import apps
import liveevents

imported, skipped = [], []
for module in pkgutil.walk_packages(liveevents.__path__, "liveevents."):
    if module.name == "liveevents.admin" and not apps.is_installed("django.contrib.admin"):
        skipped.append(module.name)  # Django imports admin modules only for django.contrib.admin
        continue
    importlib.import_module(module.name)
    imported.append(module.name)

from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests.notes.models import Note
from liveevents.models import Event
Note.objects.create(title="standalone")
logged = list(Event.objects.values_list("stream_id", "sequence", "event"))

print(json.dumps({
    "imported": imported,
    "skipped": skipped,
    "flightboard": sorted(m for m in sys.modules if m == "flightboard" or m.startswith("flightboard.")),
    "logged": logged,
}))
"""


@pytest.mark.parametrize("with_admin", [False, True], ids=["minimal", "with-admin"])
def test_liveevents_imports_and_works_without_flightboard(tmp_path: Path, with_admin: bool) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "MINIMAL_SETTINGS_WITH_ADMIN")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.minimal_settings",
        PYTHONPATH=str(REPO),
        MINIMAL_SETTINGS_DIR=str(tmp_path),
    )
    if with_admin:
        env["MINIMAL_SETTINGS_WITH_ADMIN"] = "1"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", IMPORT_EVERYTHING],
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
