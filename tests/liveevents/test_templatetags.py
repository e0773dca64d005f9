"""{% stream_url %} and {% stream_last_id %}: what a page renders to follow a stream."""

from __future__ import annotations

from django.template import Context, Template

from liveevents.publish import publish

PAGE = Template("{% load liveevents %}{% stream_url 'bulletins' %} {% stream_last_id 'bulletins' %}")


def test_a_stream_that_never_published_is_at_zero(db: None) -> None:
    assert PAGE.render(Context()) == "/events/bulletins/ 0"


def test_the_last_id_is_the_stream_head(db: None) -> None:
    publish("bulletins", "tick", "1")
    publish("bulletins", "tick", "2")
    publish("notes", "tick", "3")
    assert PAGE.render(Context()) == "/events/bulletins/ 2"


def test_several_streams_render_one_url_and_one_cursor(db: None) -> None:
    publish("notes", "tick", "1")
    page = Template(
        "{% load liveevents %}{% streams_url 'bulletins' 'notes' %} {% stream_cursor 'bulletins' 'notes' %}"
    )
    assert page.render(Context()) == "/events/?stream=bulletins&amp;stream=notes bulletins:0,notes:1"
