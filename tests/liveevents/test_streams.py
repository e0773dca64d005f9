"""Stream declarations: which streams exist and who may read each one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    StreamFamily,
    StreamSpec,
    UnknownStream,
    declare_stream,
    declared_families,
    declared_streams,
    forget_stream,
    get_stream,
    owner,
    permission,
    resolve_stream,
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


# Families --------------------------------------------------------------------------------------


@pytest.fixture
def families() -> Iterator[Callable[..., StreamSpec | StreamFamily]]:
    """declare_stream() for one test: every stream and family it declares is forgotten after it."""
    declared: list[str] = []

    def declare(name: str, readers: Any = PUBLIC) -> StreamSpec | StreamFamily:
        declared.append(name)
        return declare_stream(name, readers=readers)

    yield declare
    for name in declared:
        forget_stream(name)


def test_a_name_with_one_parameter_declares_a_family(families: Callable[..., Any]) -> None:
    family = families("terminal.{code}")
    assert isinstance(family, StreamFamily)
    assert (family.pattern, family.param, family.prefix, family.suffix) == (
        "terminal.{code}",
        "code",
        "terminal.",
        "",
    )
    assert declared_families()["terminal.{code}"] is family
    assert "terminal.{code}" not in declared_streams()
    assert family.name(2) == "terminal.2"


@pytest.mark.parametrize(
    "pattern",
    ["x.{}", "x.{a}.{b}", "{a}{b}", "x.{1a}", "x.{a-b}", "x.{a b}", "x.{{a}}", "x.{a"],
)
def test_a_family_names_exactly_one_parameter(families: Callable[..., Any], pattern: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="name exactly one parameter between braces"):
        families(pattern)
    assert pattern not in declared_families()


@pytest.mark.parametrize(
    "pattern", ["x y.{a}", "x/{a}", "x:{a}", "x.{a},y", "é.{a}", "x.{a}}", "x" * 80 + ".{a}"]
)
def test_a_family_name_keeps_to_the_name_grammar_around_its_parameter(
    families: Callable[..., Any], pattern: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match="around the parameter"):
        families(pattern)
    assert declared_families() == {}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("a.{x}", "a.{y}"),  # the same names under another parameter's name
        ("a.{x}", "a.b{y}"),  # a.bc: x=bc or y=c
        ("a{x}", "ab{y}"),
        ("a.{x}.b", "a.{y}.b"),
        ("{x}.a", "b.{y}"),  # b.a: x=b, or y=a
        ("{x}", "a{y}"),
    ],
)
def test_families_that_could_claim_the_same_name_are_refused(
    families: Callable[..., Any], first: str, second: str
) -> None:
    families(first)
    with pytest.raises(ImproperlyConfigured, match="could both claim a name"):
        families(second)
    assert list(declared_families()) == [first]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("a.{x}", "a.{x}.b"),  # a parameter never holds a dot
        ("a.{x}.b", "a.{x}"),
        ("terminal.{code}", "flight.{code}"),
        ("a.{x}", "b.{x}"),
        ("a.{x}.b", "a.{x}.c"),
        ("order.{pk}", "order.{pk}.notes"),
    ],
)
def test_families_that_can_never_share_a_name_are_both_declared(
    families: Callable[..., Any], first: str, second: str
) -> None:
    families(first)
    families(second)
    assert set(declared_families()) == {first, second}


def test_redeclaring_a_family_returns_it_and_other_readers_are_refused(families: Callable[..., Any]) -> None:
    family = families("x.{n}")
    assert families("x.{n}") is family
    with pytest.raises(ImproperlyConfigured, match="already declared with other readers"):
        families("x.{n}", STAFF)
    assert declared_families()["x.{n}"].readers is PUBLIC


def test_forget_stream_undeclares_a_family(families: Callable[..., Any]) -> None:
    families("x.{n}")
    forget_stream("x.{n}")
    assert get_stream("x.1") is None


# resolve_stream() and get_stream() --------------------------------------------------------------


def test_a_member_of_a_family_resolves_with_its_parameter(families: Callable[..., Any]) -> None:
    family = families("terminal.{code}")
    spec = resolve_stream("terminal.2")
    assert (spec.name, spec.family, dict(spec.params), spec.readers) == (
        "terminal.2",
        family,
        {"code": "2"},
        PUBLIC,
    )
    assert spec.public
    assert get_stream("terminal.A_b-9") == StreamSpec("terminal.A_b-9", PUBLIC, family, {"code": "A_b-9"})


def test_a_member_resolves_with_a_suffix_after_its_parameter(families: Callable[..., Any]) -> None:
    families("order.{pk}", STAFF)
    notes = families("order.{pk}.notes", AUTHENTICATED)
    spec = resolve_stream("order.5.notes")
    assert (spec.family, dict(spec.params), spec.readers) == (notes, {"pk": "5"}, AUTHENTICATED)
    assert resolve_stream("order.5").readers is STAFF


def test_a_member_resolves_whatever_order_its_family_was_declared_in(families: Callable[..., Any]) -> None:
    # The names `order.5.notes` and `order.5` are both shaped like `order.{pk}`'s, but only one
    # has a parameter within the grammar: the other belongs to the other family.
    notes = families("order.{pk}.notes")
    families("order.{pk}")
    assert resolve_stream("order.5.notes").family is notes


def test_a_declared_name_wins_over_a_family(families: Callable[..., Any]) -> None:
    families("x.{n}", STAFF)
    families("x.open", PUBLIC)
    fixed = resolve_stream("x.open")
    assert (fixed.family, dict(fixed.params), fixed.readers, fixed.public) == (None, {}, PUBLIC, True)
    member = resolve_stream("x.closed")
    assert (member.readers, dict(member.params), member.public) == (STAFF, {"n": "closed"}, False)


@pytest.mark.parametrize("name", ["x.a:b", "x.a b", "x.é", "x.a,b", "x.1.2", "x." + "1" * 79])
def test_a_parameter_outside_the_grammar_is_unknown_with_a_message(
    families: Callable[..., Any], name: str
) -> None:
    families("x.{n}")
    with pytest.raises(UnknownStream) as raised:
        resolve_stream(name)
    message = str(raised.value)
    assert "is not a stream of family 'x.{n}'" in message
    assert "its 'n' must be ASCII letters, digits, '_' or '-'" in message
    assert "at most 80 characters" in message
    assert get_stream(name) is None


@pytest.mark.parametrize("name", ["y.1", "x", "x.", "nope", "1.x", ""])
def test_a_name_that_matches_no_declaration_is_unknown(families: Callable[..., Any], name: str) -> None:
    families("x.{n}")
    with pytest.raises(UnknownStream, match="^Unknown stream"):
        resolve_stream(name)
    assert get_stream(name) is None


def test_unknown_stream_is_a_lookup_error() -> None:
    assert issubclass(UnknownStream, LookupError)
    with pytest.raises(LookupError):
        resolve_stream("nope")


def test_a_family_members_name_is_checked_when_made(families: Callable[..., Any]) -> None:
    family = families("terminal.{code}")
    assert family.name("T1") == "terminal.T1"
    for value in ["a.b", "", "a b", "é"]:
        with pytest.raises(ValueError, match="cannot be the 'code' of stream family 'terminal.{code}'"):
            family.name(value)
    with pytest.raises(ValueError, match="Invalid stream name"):
        family.name("1" * 80)


# A family's readers ------------------------------------------------------------------------------


def test_a_familys_readers_receive_the_parameter(
    families: Callable[..., Any], people: dict[str, Any]
) -> None:
    asked: list[tuple[Any, dict[str, str]]] = []

    def even_only(request: HttpRequest, **params: str) -> bool:
        asked.append((request.user, params))
        return int(params["n"]) % 2 == 0

    families("counter.{n}", even_only)
    request = request_as(people["user"])
    assert resolve_stream("counter.2").allows(request) is True
    assert resolve_stream("counter.3").allows(request) is False
    assert asked == [(people["user"], {"n": "2"}), (people["user"], {"n": "3"})]
    assert resolve_stream("counter.2").public is False


def test_a_declared_streams_readers_receive_the_request_only(families: Callable[..., Any]) -> None:
    asked: list[tuple[Any, ...]] = []

    def readers(*args: Any, **kwargs: Any) -> bool:
        asked.append((args, kwargs))
        return True

    families("fixed", readers)
    request = request_as(AnonymousUser())
    assert resolve_stream("fixed").allows(request) is True
    assert asked == [((request,), {})]


def test_owner_lets_a_user_read_their_own_stream_only(
    families: Callable[..., Any], people: dict[str, Any]
) -> None:
    families("user.{id}", owner("id"))
    user, staff = people["user"], people["staff"]
    own = resolve_stream(f"user.{user.pk}")
    assert own.allows(request_as(user)) is True
    assert own.allows(request_as(staff)) is False
    assert own.allows(request_as(people["superuser"])) is False  # not even a superuser's
    assert own.allows(request_as(AnonymousUser())) is False
    assert resolve_stream(f"user.{people['inactive'].pk}").allows(request_as(people["inactive"])) is False
    assert resolve_stream("user.abc").allows(request_as(user)) is False


def test_owner_of_another_parameter_reads_that_parameter(people: dict[str, Any]) -> None:
    readers = owner("pk")
    user = people["user"]
    assert readers(request_as(user), pk=str(user.pk)) is True
    assert readers(request_as(user), id=str(user.pk)) is False
    assert "'pk'" in (readers.__doc__ or "")
