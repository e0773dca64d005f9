"""{% stream_url %}, {% stream_last_id %} and the others: what a page renders to follow streams."""

from __future__ import annotations

import pytest
from django.template import Context, Template, TemplateSyntaxError

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


def test_the_connect_url_carries_the_position_of_one_stream(db: None) -> None:
    publish("bulletins", "tick", "1")
    page = Template("{% load liveevents %}{% stream_connect_url 'bulletins' %}")
    assert page.render(Context()) == "/events/bulletins/?lastEventId=1"


def test_the_connect_url_of_several_streams_carries_their_cursor(db: None) -> None:
    publish("notes", "tick", "1")
    publish("notes", "tick", "2")
    page = Template("{% load liveevents %}{% stream_connect_url 'bulletins' 'notes' %}")
    assert page.render(Context()) == (
        "/events/?stream=bulletins&amp;stream=notes&amp;lastEventId=bulletins%3A0%2Cnotes%3A2"
    )


def test_the_connect_url_needs_a_stream(db: None) -> None:
    with pytest.raises(TemplateSyntaxError, match="one stream or more"):
        Template("{% load liveevents %}{% stream_connect_url %}").render(Context())
