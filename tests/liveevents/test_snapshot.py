"""snapshot(): a page's state and the position it matches, the position read first, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.http import JsonResponse
from django.template import Context, Template

from liveevents.models import Event
from liveevents.publish import publish
from liveevents.snapshot import snapshot
from liveevents.streams import UnknownStream
from tests.concurrent_commit import concurrent_commit
from tests.notes.models import Bulletin


def bulletins(using: str = "default") -> Callable[[], Any]:
    return lambda: Bulletin.objects.using(using).order_by("pk")


def test_one_stream_gives_its_id_and_its_own_url(db: None) -> None:
    Bulletin.objects.create(text="first")
    Bulletin.objects.create(text="second")
    live = snapshot("bulletins", bulletins())
    assert [bulletin.text for bulletin in live.state] == ["first", "second"]
    assert live.streams == ("bulletins",)
    assert live.last_event_id == "2"
    assert live.url == "/events/bulletins/"
    assert live.connect_url == "/events/bulletins/?lastEventId=2"


def test_a_list_of_streams_gives_a_cursor_and_the_endpoint_of_several(db: None) -> None:
    publish("notes", "tick", "1")
    live = snapshot(["bulletins", "notes", "bulletins"], bulletins())
    assert live.streams == ("bulletins", "notes")
    assert live.last_event_id == "bulletins:0,notes:1"
    assert live.url == "/events/?stream=bulletins&stream=notes"
    assert live.connect_url == (
        "/events/?stream=bulletins&stream=notes&lastEventId=bulletins%3A0%2Cnotes%3A1"
    )


def test_a_list_of_one_stream_is_followed_as_several_are(db: None) -> None:
    # What a client made with `streams: [...]` takes, even for one: a cursor, not a plain id.
    publish("bulletins", "tick", "1")
    live = snapshot(["bulletins"], bulletins())
    assert (live.last_event_id, live.url) == ("bulletins:1", "/events/?stream=bulletins")


def test_a_stream_never_published_on_is_at_zero(db: None) -> None:
    assert snapshot("bulletins", list).last_event_id == "0"


def test_an_undeclared_stream_is_refused_saying_how_to_declare_it(db: None) -> None:
    with pytest.raises(UnknownStream) as raised:
        snapshot(["notes", "bulletin"], list)
    message = str(raised.value)
    assert message.startswith("snapshot(): Unknown stream 'bulletin'.")
    assert "declare_stream('bulletin', readers=...)" in message


def test_no_stream_is_refused(db: None) -> None:
    with pytest.raises(ValueError, match="one stream or more"):
        snapshot([], list)


def test_more_streams_than_one_connection_follows_are_refused(db: None, settings: Any) -> None:
    settings.LIVEEVENTS = {"MAX_STREAMS_PER_CONNECTION": 1}
    assert snapshot(["bulletins", "bulletins"], list).streams == ("bulletins",)
    with pytest.raises(ValueError, match=r"at most 1 \(LIVEEVENTS\['MAX_STREAMS_PER_CONNECTION'\]\); got 2"):
        snapshot(["bulletins", "notes"], list)


def test_querysets_are_read_inside_the_snapshot(db: None, django_assert_num_queries: Any) -> None:
    Bulletin.objects.create(text="first")
    live = snapshot("bulletins", lambda: {"bulletins": Bulletin.objects.all(), "count": 1})
    one = snapshot("bulletins", bulletins())
    Bulletin.objects.create(text="later")
    with django_assert_num_queries(0):
        assert [bulletin.text for bulletin in live.state["bulletins"]] == ["first"]
        assert [bulletin.text for bulletin in one.state] == ["first"]


def test_a_template_takes_the_url_and_the_id_from_the_snapshot(db: None) -> None:
    Bulletin.objects.create(text="first")
    page = Template(
        '<main data-stream-url="{{ live.url }}" data-last-event-id="{{ live.last_event_id }}">'
        "{% for bulletin in live.state %}<p>{{ bulletin.text }}</p>{% endfor %}</main>"
    )
    rendered = page.render(Context({"live": snapshot("bulletins", bulletins())}))
    assert rendered == '<main data-stream-url="/events/bulletins/" data-last-event-id="1"><p>first</p></main>'


def test_an_api_answers_the_state_with_its_id(db: None) -> None:
    Bulletin.objects.create(text="first")
    live = snapshot(["bulletins", "notes"], bulletins())
    response = JsonResponse(
        {"lastEventId": live.last_event_id, "items": [{"text": bulletin.text} for bulletin in live.state]}
    )
    assert json.loads(response.content) == {
        "lastEventId": "bulletins:1,notes:0",
        "items": [{"text": "first"}],
    }


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
@pytest.mark.parametrize("using", ["default", "postgres"])
def test_a_change_committed_between_the_two_reads_is_shown_or_replayed(using: str) -> None:
    # Were the state read first, a bulletin committed between the two reads would be missing
    # from the state and at or before the position: in neither.
    Bulletin.objects.using(using).create(text="before")
    # Right after the snapshot's first query: the position's, or the state's were the order wrong.
    with concurrent_commit(lambda: Bulletin.objects.using(using).create(text="between"), using=using):
        live = snapshot("bulletins", bulletins(using), using=using)
    replayed = Event.objects.using(using).filter(stream_id="bulletins", sequence__gt=int(live.last_event_id))
    shown = {bulletin.text for bulletin in live.state}
    assert shown | {json.loads(event.data)["text"] for event in replayed} == {"before", "between"}
    # The id is no newer than the state: the state is at least as new as the position.
    assert int(live.last_event_id) <= len(shown)
