"""Stream declarations: which streams exist and who may read each one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.test import RequestFactory

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


@pytest.fixture
def scratch_stream() -> Iterator[str]:
    """A stream declared for one test only."""
    declare_stream("scratch", readers=PUBLIC)
    yield "scratch"
    forget_stream("scratch")


# declare_stream() ------------------------------------------------------------------------------


def test_apps_declare_their_streams_with_their_readers() -> None:
    streams = declared_streams()
    assert streams["bulletins"].readers is PUBLIC
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
