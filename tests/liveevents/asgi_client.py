"""The test project's application in-process, for the stream tests: liveevents.testing's client."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.asgi import get_asgi_application

from liveevents.asgi import StreamRouter
from liveevents.testing import StreamResponse


def application(router: bool) -> StreamRouter | object:
    """Public streams by liveevents' StreamRouter, the rest by Django (as flightboard serves them),
    or Django's handler alone."""
    django = get_asgi_application()
    return StreamRouter(django) if router else django


def stream_response(
    path: str,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    send_buffer: int = 0,
    router: bool | None = None,
) -> StreamResponse:
    return StreamResponse(
        application(ROUTER if router is None else router), path, headers, method, send_buffer
    )


async def open_stream(
    path: str,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    send_buffer: int = 0,
    router: bool | None = None,
) -> StreamResponse:
    """router: True serves public streams through liveevents' StreamRouter,
    False through Django's view only; None: the module default, ROUTER."""
    return await stream_response(path, headers, method, send_buffer, router).start()


ROUTER = True
