"""The load generator's streams: one EventSource-like client per stream, read by an asyncio Protocol.

A client's records survive its reconnects; its stream is read with liveevents' WHATWG parser
(benchmarks.support.event_stream) and only the benchmark's event and stream resets are recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from benchmarks.support.event_stream import EventStreamResponse
from benchmarks.support.raw_http import stream_request

HOST = "127.0.0.1"
EVENT = "flightStateUpdate"  # what every peer publishes; keep-alive events and the like are not counted
RESET_EVENTS = {"streamReset", "stream-reset"}


class Client:
    """One EventSource-like reader; its records survive reconnects."""

    __slots__ = (
        "attempts",
        "errors",
        "last_id",
        "opened_at",
        "port",
        "path",
        "received",
        "reconnect",
        "reconnects",
        "records",
        "resets",
        "stopping",
        "task",
        "transport",
    )

    def __init__(self, port: int, path: str, last_id: str | None, reconnect: bool) -> None:
        self.port = port
        self.path = path
        self.last_id = last_id
        self.reconnect = reconnect
        self.records: list[tuple[str, float]] = []  # (raw id, receive time), in order
        self.received: dict[str, float] = {}  # first receive time of each id
        self.errors: Counter[str] = Counter()
        self.reconnects = 0
        self.resets = 0
        self.attempts = 0
        self.stopping = False
        self.opened_at: float | None = None
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None

    def record(self, event_id: str, event: str, at: float) -> None:
        if event in RESET_EVENTS:
            self.resets += 1
            return
        self.records.append((event_id, at))
        self.received.setdefault(event_id, at)


class StreamProtocol(asyncio.Protocol):
    """One HTTP/1.1 SSE response, read as it arrives."""

    def __init__(self, client: Client, opened: asyncio.Future[str], closed: asyncio.Future[None]) -> None:
        self.client = client
        self.opened = opened  # result: "ok", or an error kind
        self.closed = closed
        self.streaming = False  # a 200 and the first body bytes have arrived
        self.response = EventStreamResponse()
        if client.last_id is not None:
            self.response.parser.last_event_id = client.last_id  # as EventSource keeps it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.client.transport = transport
        transport.write(stream_request(self.client.port, self.client.path, self.client.last_id))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        response = self.response
        events = response.feed_events(data)
        if not self.streaming:
            if response.status is None:
                return
            if response.status != 200:
                self._open(f"http-{response.status}")
                self.client.transport.close()  # type: ignore[union-attr]
                return
            if not response.body_bytes:
                return
            self.streaming = True
            self._open("ok")
        if events:
            client = self.client
            for event in events:
                name = event.event
                if name == EVENT or name in RESET_EVENTS:
                    client.record(event.last_event_id, name, now)
            client.last_id = response.parser.last_event_id or client.last_id
        if response.complete:
            self.client.transport.close()  # type: ignore[union-attr]

    def _open(self, result: str) -> None:
        if not self.opened.done():
            self.opened.set_result(result)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.transport = None
        self._open("eof-before-stream" if exc is None else error_kind(exc))
        if not self.closed.done():
            self.closed.set_result(None)


def error_kind(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, ConnectionResetError):
        return "reset"
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    if isinstance(error, OSError) and error.errno is not None:
        return f"oserror-{error.errno}"
    return type(error).__name__
