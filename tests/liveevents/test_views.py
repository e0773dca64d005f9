"""The Django stream views as a server runs them: refused under WSGI, and never compressed."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.middleware.gzip import GZipMiddleware
from django.test import Client

from liveevents.hub import StreamHub
from liveevents.publish import publish
from tests.liveevents.asgi_client import open_stream

GZIP = "django.middleware.gzip.GZipMiddleware"


# Under WSGI -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/events/bulletins/", "/events/?stream=bulletins&stream=notes"])
def test_a_stream_under_wsgi_answers_500_saying_how_to_serve_asgi(
    caplog: pytest.LogCaptureFixture, path: str
) -> None:
    # Django's test Client is a WSGI handler, as runserver is without daphne.
    with caplog.at_level(logging.INFO):
        response = Client().get(path, HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 500
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    message = response.content.decode()
    assert message.startswith("Streams need an ASGI server; this one serves WSGI.")
    assert "add 'daphne' to INSTALLED_APPS before 'django.contrib.staticfiles'" in message
    assert "`daphne tests.notes.settings:application`" in message
    assert "`uvicorn tests.notes.settings:application`" in message
    # One error, with what to do, and no traceback; not a second line from django.request.
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert (record.name, record.levelname, record.exc_info) == ("liveevents.views", "ERROR", None)
    assert path.split("?")[0] in record.getMessage()
    assert "streams need an ASGI server" in record.getMessage()
    assert "INSTALLED_APPS" in record.getMessage()


def test_under_wsgi_other_methods_still_get_405() -> None:
    assert Client().post("/events/bulletins/").status_code == 405


# Behind GZipMiddleware --------------------------------------------------------------------------


async def test_a_stream_behind_gzip_is_sent_as_it_is_without_content_encoding(
    hub: StreamHub, settings: Any
) -> None:
    settings.MIDDLEWARE = [GZIP, *django_settings.MIDDLEWARE]
    response = await open_stream("/events/bulletins/", {"Accept-Encoding": "gzip, deflate"}, router=False)
    assert response.status == 200
    assert "content-encoding" not in response.headers
    await response.read_until(lambda r: r.parser.retry is not None)
    assert response.body.startswith(b"retry: 2000\n\n")
    # Each event as it is published: nothing held back to be compressed.
    await sync_to_async(publish)("bulletins", "tick", {"n": 1})
    [event] = await response.read_events(1)
    assert (event.event, event.json()) == ("tick", {"n": 1})
    await response.disconnect()


async def test_gzip_still_compresses_the_sites_other_responses(
    hub: StreamHub, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MIDDLEWARE = [GZIP, *django_settings.MIDDLEWARE]
    # Without the random padding (against BREACH) that can make a short body's gzip the longer.
    monkeypatch.setattr(GZipMiddleware, "max_random_bytes", 0)
    # A refusal whose message is long enough to be worth compressing: GZip is at work here.
    headers = {"Accept-Encoding": "gzip", "Last-Event-ID": "x" * 60}
    response = await open_stream("/events/?stream=bulletins", headers, router=False)
    assert response.status == 400
    assert response.headers["content-encoding"] == "gzip"
