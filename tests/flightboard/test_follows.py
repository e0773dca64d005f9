"""Following flights: the Follow model and its binding to the follower's `user.<id>` stream, the
follow and unfollow forms (POST, CSRF, sign-in), the admin, and the demo users."""

from __future__ import annotations

import datetime
import stat
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client

from flightboard.management.commands.create_demo_users import DEMO_USERS
from flightboard.models import Flight, Follow
from liveevents.models import Stream
from liveevents.publish import publish
from liveevents.testing import capture_events


def make(code: str, terminal: str = "2", state: str = "") -> Flight:
    return Flight.objects.create(
        flight=code, origin="Rome", arrival=datetime.time(10, 10), terminal=terminal, state=state
    )


@pytest.fixture
def ada(db: None) -> User:
    return User.objects.create_user("ada", password="pw")


@pytest.fixture
def grace(db: None) -> User:
    return User.objects.create_user("grace", password="pw")


def signed_in(user: User, **options: Any) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


# The binding ------------------------------------------------------------------------------------


def test_following_publishes_the_row_and_its_streams_position_on_the_followers_stream(ada: User) -> None:
    flight = make("I768")
    flight.state = Flight.State.DELAYED
    flight.save()
    publish("flight.I768", "note")  # the position is the stream's, whatever published there
    with capture_events() as events:
        Follow.objects.create(user=ada, flight=flight)
    [event] = events
    assert (event.stream, event.event) == (f"user.{ada.pk}", "flightFollowed")
    assert event.json() == {
        "flight": "I768",
        "origin": "Rome",
        "arrival": "10:10",
        "state": "delayed",
        "state_label": "Delayed",
        "terminal": "2",
        "lastEventId": "3",
    }


def test_followed_row_is_read_after_the_position(ada: User, monkeypatch: pytest.MonkeyPatch) -> None:
    # A change committed between the two reads must be in the row or after the position (then
    # replayed); read the other way round, the page would miss it for good.
    flight = make("I768")
    real = Stream.current_id.__func__  # type: ignore[attr-defined]

    def position_then_a_change(cls: type[Stream], name: str) -> int:
        position: int = real(cls, name)
        if name == "flight.I768":
            Flight.objects.filter(pk=flight.pk).update(state=Flight.State.LANDED)
        return position

    monkeypatch.setattr(Stream, "current_id", classmethod(position_then_a_change))
    with capture_events(f"user.{ada.pk}") as events:
        Follow.objects.create(user=ada, flight=flight)
    data = events[0].json()
    assert (data["state"], data["lastEventId"]) == ("landed", "1")


def test_unfollowing_publishes_the_code_on_the_followers_stream(ada: User) -> None:
    follow = Follow.objects.create(user=ada, flight=make("I768"))
    with capture_events() as events:
        follow.delete()
    assert [(e.stream, e.event, e.json()) for e in events] == [
        (f"user.{ada.pk}", "flightUnfollowed", {"flight": "I768"})
    ]


def test_removing_a_followed_flight_unfollows_it_for_each_follower(ada: User, grace: User) -> None:
    flight = make("I768")
    Follow.objects.create(user=ada, flight=flight)
    Follow.objects.create(user=grace, flight=flight)
    with capture_events() as events:
        flight.delete()
    published = {(e.stream, e.event, e.data) for e in events}
    assert {(stream, event) for stream, event, _ in published} == {
        (f"user.{ada.pk}", "flightUnfollowed"),
        (f"user.{grace.pk}", "flightUnfollowed"),
        ("flights", "flightRemoval"),
        ("flight.I768", "flightRemoval"),
        ("terminal.2", "flightRemoval"),
        ("flights-html", "flightRows"),
    }
    assert not Follow.objects.exists()


def test_a_flight_is_followed_once_per_user(ada: User) -> None:
    flight = make("I768")
    Follow.objects.create(user=ada, flight=flight)
    with pytest.raises(IntegrityError), transaction.atomic():
        Follow.objects.create(user=ada, flight=flight)


# The follow and unfollow forms ---------------------------------------------------------------


def test_follow_form_follows_and_goes_back_to_the_page_it_was_on(ada: User) -> None:
    make("I768")
    client = signed_in(ada)
    with capture_events(f"user.{ada.pk}") as events:
        response = client.post("/flights/I768/follow/", {"next": "/terminals/2/"})
    assert response.status_code == 302
    assert response["Location"] == "/terminals/2/"
    assert list(Follow.objects.values_list("user__username", "flight__flight")) == [("ada", "I768")]
    assert [e.event for e in events] == ["flightFollowed"]
    assert "You follow I768." in client.get("/terminals/2/").content.decode()


def test_following_twice_follows_and_publishes_once(ada: User) -> None:
    make("I768")
    client = signed_in(ada)
    with capture_events() as events:
        client.post("/flights/I768/follow/")
        client.post("/flights/I768/follow/")
    assert Follow.objects.count() == 1
    assert [e.event for e in events] == ["flightFollowed"]


def test_unfollow_form_unfollows_and_goes_back(ada: User) -> None:
    Follow.objects.create(user=ada, flight=make("I768"))
    client = signed_in(ada)
    with capture_events() as events:
        response = client.post("/flights/I768/unfollow/", {"next": "/my/"})
    assert (response.status_code, response["Location"]) == (302, "/my/")
    assert not Follow.objects.exists()
    assert [(e.stream, e.event) for e in events] == [(f"user.{ada.pk}", "flightUnfollowed")]


def test_unfollowing_a_flight_not_followed_publishes_nothing(ada: User, grace: User) -> None:
    flight = make("I768")
    Follow.objects.create(user=grace, flight=flight)
    with capture_events() as events:
        response = signed_in(ada).post("/flights/I768/unfollow/")
    assert response.status_code == 302
    assert events == []
    assert Follow.objects.filter(user=grace).exists()  # another user's follow is theirs


def test_one_users_follow_is_published_on_their_stream_only(ada: User, grace: User) -> None:
    make("I768")
    with capture_events() as events:
        signed_in(grace).post("/flights/I768/follow/")
    assert [e.stream for e in events] == [f"user.{grace.pk}"]


@pytest.mark.parametrize("next_url", ["https://elsewhere.example/", "//elsewhere.example/", ""])
def test_follow_goes_back_only_to_this_site(ada: User, next_url: str) -> None:
    make("I768")
    response = signed_in(ada).post("/flights/I768/follow/", {"next": next_url})
    assert response["Location"] == "/flights/I768/"


@pytest.mark.parametrize("action", ["follow", "unfollow"])
def test_follow_forms_need_a_signed_in_user(db: None, action: str) -> None:
    make("I768")
    response = Client().post(f"/flights/I768/{action}/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/flights/I768/"
    assert not Follow.objects.exists()


@pytest.mark.parametrize("action", ["follow", "unfollow"])
def test_follow_forms_refuse_get(ada: User, action: str) -> None:
    make("I768")
    assert signed_in(ada).get(f"/flights/I768/{action}/").status_code == 405
    assert not Follow.objects.exists()


@pytest.mark.parametrize("action", ["follow", "unfollow"])
def test_follow_forms_of_an_unknown_flight_are_404(ada: User, action: str) -> None:
    assert signed_in(ada).post(f"/flights/NOPE/{action}/").status_code == 404


def test_follow_form_needs_the_csrf_token(ada: User) -> None:
    make("I768")
    client = signed_in(ada, enforce_csrf_checks=True)
    with capture_events() as events:
        assert client.post("/flights/I768/follow/").status_code == 403
    assert not Follow.objects.exists()
    assert events == []
    # The page's own form carries the token: with it, the same POST follows.
    page = client.get("/flights/I768/")
    token = page.context["csrf_token"]
    assert f'value="{token}"' in page.content.decode()
    assert client.post("/flights/I768/follow/", {"csrfmiddlewaretoken": str(token)}).status_code == 302
    assert Follow.objects.count() == 1


def test_follows_stop_at_what_my_flights_can_follow_over_one_connection(ada: User, settings: Any) -> None:
    settings.LIVEEVENTS = {"MAX_STREAMS_PER_CONNECTION": 3}  # the user's stream and two flights
    for code in ("A123", "D654", "I768"):
        make(code)
    client = signed_in(ada)
    client.post("/flights/A123/follow/")
    client.post("/flights/D654/follow/")
    with capture_events() as events:
        response = client.post("/flights/I768/follow/", follow=True)
    assert "You can follow up to 2 flights: unfollow one first." in response.content.decode()
    assert sorted(Follow.objects.values_list("flight__flight", flat=True)) == ["A123", "D654"]
    assert events == []


# The admin ------------------------------------------------------------------------------------


def test_follows_are_listed_and_added_in_the_admin(admin_client: Client, ada: User) -> None:
    flight = make("I768")
    with capture_events(f"user.{ada.pk}") as events:
        response = admin_client.post("/admin/flightboard/follow/add/", {"user": ada.pk, "flight": flight.pk})
    assert response.status_code == 302
    assert [e.event for e in events] == ["flightFollowed"]
    changelist = admin_client.get("/admin/flightboard/follow/")
    assert [str(follow) for follow in changelist.context["cl"].result_list] == ["ada follows I768"]


def test_a_follows_user_and_flight_cannot_change_in_the_admin(admin_client: Client, ada: User) -> None:
    follow = Follow.objects.create(user=ada, flight=make("I768"))
    content = admin_client.get(f"/admin/flightboard/follow/{follow.pk}/change/").content.decode()
    assert 'name="user"' not in content
    assert 'name="flight"' not in content


# The demo users -------------------------------------------------------------------------------


def test_create_demo_users_makes_two_users_who_can_sign_in(db: None, tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    out = StringIO()
    call_command("create_demo_users", "--password-file", str(path), stdout=out)
    assert f"Created demo users ada, grace; their passwords are in {path}" in out.getvalue()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    passwords = dict(line.split(" ", 1) for line in path.read_text().splitlines())
    assert sorted(passwords) == sorted(DEMO_USERS) == ["ada", "grace"]
    for username, password in passwords.items():
        client = Client()
        response = client.post("/accounts/login/", {"username": username, "password": password})
        assert (response.status_code, response["Location"]) == (302, "/my/")
        user = User.objects.get(username=username)
        assert not (user.is_staff or user.is_superuser)


def test_create_demo_users_twice_keeps_users_and_passwords(db: None, tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    call_command("create_demo_users", "--password-file", str(path), stdout=StringIO())
    written = path.read_text()
    out = StringIO()
    call_command("create_demo_users", "--password-file", str(path), stdout=out)
    assert "already exist" in out.getvalue()
    assert path.read_text() == written
    assert User.objects.count() == 2


def test_create_demo_admin_still_makes_only_the_admin(db: None, tmp_path: Path) -> None:
    call_command("create_demo_admin", "--password-file", str(tmp_path / "admin.txt"), stdout=StringIO())
    assert list(User.objects.values_list("username", "is_superuser")) == [("admin", True)]
