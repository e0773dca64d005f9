"""An in-process streaming HTTP client for an ASGI application, reading SSE events with timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from liveevents.asgi import ASGIApp, Message, Scope
from liveevents.testing.parser import EventStreamParser, ParsedEvent


class StreamResponse:
    """One request to `application`, read as it streams.

    `await response.start()` (or `async with StreamResponse(...) as response`) sends the request and
    waits for the status and headers; `read_events`, `read_until` and `read_to_end` read the body with
    a timeout, feeding a WHATWG event-stream parser; `disconnect()` hangs up as a browser would.
    `send_buffer` > 0 models a client that reads slowly: the server's send() waits when it is full.
    """

    def __init__(
        self,
        application: ASGIApp,
        path: str,
        headers: Mapping[str, str] | None = None,
        method: str = "GET",
        send_buffer: int = 0,
    ) -> None:
        path, _, query = path.partition("?")
        headers = {"accept": "text/event-stream", **{k.lower(): v for k, v in (headers or {}).items()}}
        headers.setdefault("host", "testserver")
        self.application = application
        self.scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self._incoming: asyncio.Queue[Message] = asyncio.Queue()
        self._outgoing: asyncio.Queue[Message] = asyncio.Queue(maxsize=send_buffer)
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""
        self.parser = EventStreamParser()
        self.finished = False
        self.task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 5) -> StreamResponse:
        """Send the request; return once the response has started (status and headers read)."""
        await self._incoming.put({"type": "http.request", "body": b"", "more_body": False})
        # ensure_future: an ASGI application returns an awaitable, not necessarily a coroutine.
        self.task = asyncio.ensure_future(
            self.application(self.scope, self._incoming.get, self._outgoing.put)
        )
        start = await self._next_message(timeout)
        if start["type"] != "http.response.start":
            raise AssertionError(f"Expected http.response.start, got {start!r}.")
        self.status = start["status"]
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
        return self

    async def __aenter__(self) -> StreamResponse:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.disconnect()

    @property
    def events(self) -> list[ParsedEvent]:
        """Every event dispatched so far."""
        return self.parser.events

    async def _next_message(self, timeout: float) -> Message:
        getting = asyncio.ensure_future(self._outgoing.get())
        waiting: set[asyncio.Future[Any]] = {getting}
        if self.task is not None:
            waiting.add(self.task)
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if getting in done:
            return getting.result()
        getting.cancel()
        if self.task is not None and self.task in done:
            self.task.result()  # the application raised: show its error, not a timeout
            raise AssertionError("The application returned without finishing its response.")
        raise TimeoutError(f"No response message within {timeout:g} s.")

    async def _next_chunk(self, timeout: float) -> bytes:
        message = await self._next_message(timeout)
        chunk: bytes = message.get("body", b"")
        self.body += chunk
        self.parser.feed(chunk)
        if not message.get("more_body", False):
            self.finished = True
        return chunk

    async def read_events(self, count: int, timeout: float = 5) -> list[ParsedEvent]:
        """Wait until `count` events in all have been dispatched (or the response ended); return
        every event so far. Raises TimeoutError when they do not come within `timeout` seconds."""
        await self.read_until(lambda response: len(response.events) >= count, timeout)
        return self.events

    async def read_until(self, predicate: Callable[[StreamResponse], bool], timeout: float = 5) -> None:
        """Read until `predicate(self)` holds or the response ends."""
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
        """Hang up, and wait for the application to notice and return."""
        await self._incoming.put({"type": "http.disconnect"})
        if self.task is not None and not self.task.done():
            await asyncio.wait_for(asyncio.shield(self.task), timeout)

    @property
    def ids(self) -> list[int]:
        """The ids of the logged events received (control events such as streamReset left out)."""
        return [int(e.last_event_id) for e in self.parser.events if e.event != "streamReset"]


def open_stream(
    application: ASGIApp,
    path: str,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    send_buffer: int = 0,
) -> StreamResponse:
    """A request to `application` for `path`, as an EventSource would send it; use it with
    `async with` (or `await ....start()`): ``async with open_stream(app, "/events/notes/") as r:``."""
    return StreamResponse(application, path, headers, method, send_buffer)
