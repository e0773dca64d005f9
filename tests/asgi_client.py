"""Drive the ASGI application in-process, as a streaming HTTP client with timeouts."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.asgi import get_asgi_application

from liveevents.asgi import StreamRouter
from tests.sse_parser import EventStreamParser, ParsedEvent


class StreamResponse:
    def __init__(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        send_buffer: int = 0,
        router: bool = True,
    ) -> None:
        path, _, query = path.partition("?")
        headers = {"accept": "text/event-stream", **{k.lower(): v for k, v in (headers or {}).items()}}
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        self._incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # send_buffer > 0 models a client that reads slowly: the server's send() blocks when full.
        self._outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=send_buffer)
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""
        self.parser = EventStreamParser()
        self.finished = False
        self.task: asyncio.Task[None] | None = None
        # As flightboard serves it: public streams by liveevents' StreamRouter, the rest by Django.
        self.router = router

    async def start(self, timeout: float = 5) -> StreamResponse:
        app = StreamRouter(get_asgi_application()) if self.router else get_asgi_application()
        await self._incoming.put({"type": "http.request", "body": b"", "more_body": False})
        self.task = asyncio.create_task(app(self.scope, self._incoming.get, self._outgoing.put))
        start = await asyncio.wait_for(self._outgoing.get(), timeout)
        assert start["type"] == "http.response.start", start
        self.status = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return self

    async def _next_chunk(self, timeout: float) -> bytes:
        message = await asyncio.wait_for(self._outgoing.get(), timeout)
        chunk = message.get("body", b"")
        self.body += chunk
        self.parser.feed(chunk)
        if not message.get("more_body", False):
            self.finished = True
        return chunk

    async def read_events(self, count: int, timeout: float = 5) -> list[ParsedEvent]:
        """Wait until `count` events in all have been dispatched; return all of them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.parser.events) < count and not self.finished:
            await self._next_chunk(max(0.01, deadline - loop.time()))
        return self.parser.events

    async def read_until(self, predicate: Any, timeout: float = 5) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self) and not self.finished:
            await self._next_chunk(max(0.01, deadline - loop.time()))

    async def read_to_end(self, timeout: float = 5) -> bytes:
        """Read until the server ends the response, then wait for its handler to finish."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.finished:
            await self._next_chunk(max(0.01, deadline - loop.time()))
        if self.task is not None:
            await asyncio.wait_for(asyncio.shield(self.task), max(0.01, deadline - loop.time()))
        return self.body

    async def disconnect(self, timeout: float = 5) -> None:
        await self._incoming.put({"type": "http.disconnect"})
        if self.task is not None:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)

    @property
    def ids(self) -> list[int]:
        return [int(e.last_event_id) for e in self.parser.events if e.event not in ("streamReset",)]


async def open_stream(
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    send_buffer: int = 0,
    router: bool | None = None,
) -> StreamResponse:
    """router: True serves public streams through liveevents' StreamRouter (as flightboard does),
    False through Django's view only; None: the module default, ROUTER."""
    return await StreamResponse(
        path, headers, method, send_buffer, ROUTER if router is None else router
    ).start()


ROUTER = True
