"""{% stream_url %}, {% stream_last_id %} and the others: what a page renders to follow streams, and
{% liveevents_client_url %}, where it imports the client from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.template import Context, Template, TemplateSyntaxError

from liveevents.publish import publish
from liveevents.streams import PUBLIC, UnknownStream, declare_stream, forget_stream

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


CLIENT = Template("{% load liveevents %}{% liveevents_client_url %}")


def test_the_client_url_is_the_static_files_url() -> None:
    assert CLIENT.render(Context()) == "/static/liveevents/liveevents.js"


def test_the_client_url_follows_static_url_to_a_cdn(settings: Any) -> None:
    settings.STATIC_URL = "https://cdn.example.com/assets/"
    assert CLIENT.render(Context()) == "https://cdn.example.com/assets/liveevents/liveevents.js"


def test_the_client_url_is_the_hashed_name_under_a_manifest_storage(settings: Any, tmp_path: Path) -> None:
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    url = CLIENT.render(Context())
    assert re.fullmatch(r"/static/liveevents/liveevents\.[0-9a-f]{12}\.js", url), url
    assert (tmp_path / url.removeprefix("/static/")).is_file()


# Names no declaration matches --------------------------------------------------------------------

TAGS = ["stream_url", "stream_last_id", "streams_url", "stream_cursor", "stream_connect_url"]


@pytest.mark.parametrize("tag", TAGS)
def test_a_typo_in_a_stream_name_fails_the_render_saying_how_to_declare_it(db: None, tag: str) -> None:
    names = "'bulletinz'" if tag in ("stream_url", "stream_last_id") else "'bulletins' 'bulletinz'"
    page = Template(f"{{% load liveevents %}}{{% {tag} {names} %}}")
    with pytest.raises(UnknownStream) as raised:
        page.render(Context())
    message = str(raised.value)
    assert message.startswith(f"{{% {tag} %}}: Unknown stream 'bulletinz'.")
    assert "declare_stream('bulletinz', readers=...)" in message


@pytest.mark.parametrize("tag", TAGS)
def test_a_name_outside_its_familys_grammar_fails_the_render(db: None, tag: str) -> None:
    declare_stream("desk.{code}", readers=PUBLIC)
    try:
        with pytest.raises(UnknownStream, match=r"is not a stream of family 'desk\.\{code\}'") as raised:
            Template(f"{{% load liveevents %}}{{% {tag} name %}}").render(Context({"name": "desk.a b"}))
        # Its parameter is what to correct: declaring the name itself would not help.
        assert "declare_stream('desk.a b'" not in str(raised.value)
        # A member of the family renders.
        assert Template(f"{{% load liveevents %}}{{% {tag} 'desk.a' %}}").render(Context())
    finally:
        forget_stream("desk.{code}")


def test_a_name_that_is_not_a_string_fails_the_render(db: None) -> None:
    with pytest.raises(UnknownStream, match=r"takes stream names \(strings\), not None"):
        Template("{% load liveevents %}{% stream_url name %}").render(Context({"name": None}))


@pytest.mark.parametrize("tag", ["streams_url", "stream_cursor", "stream_connect_url"])
def test_the_tags_of_several_streams_need_one_to_max_streams(db: None, settings: Any, tag: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="one stream or more, at most 16"):
        Template(f"{{% load liveevents %}}{{% {tag} %}}").render(Context())
    settings.LIVEEVENTS = {"MAX_STREAMS_PER_CONNECTION": 1}
    with pytest.raises(TemplateSyntaxError, match=r"at most 1 .*; got 2\."):
        Template(f"{{% load liveevents %}}{{% {tag} 'bulletins' 'notes' %}}").render(Context())


def test_a_stream_named_twice_is_followed_once(db: None) -> None:
    page = Template(
        "{% load liveevents %}{% streams_url 'notes' 'bulletins' 'notes' %} "
        "{% stream_cursor 'notes' 'bulletins' 'notes' %}"
    )
    assert page.render(Context()) == "/events/?stream=notes&amp;stream=bulletins notes:0,bulletins:0"
