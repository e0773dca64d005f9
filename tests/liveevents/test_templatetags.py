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
