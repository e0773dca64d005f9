"""A raw-socket asyncio SSE client that records every event it receives, across reconnects.

It reads like a browser (EventStreamResponse: HTTP framing, then the WHATWG parser) and keeps,
over all of its connections, the ordered list of received ids: what the multi-process tests and
the slow-client benchmark check.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from benchmarks.support.event_stream import EventStreamResponse, ParsedEvent, event_id_number
from benchmarks.support.raw_http import stream_request

HOST = "127.0.0.1"


class ConnectError(Exception):
    """The server answered something else than a 200 event stream (or nothing at all)."""


@dataclass
class Received:
    id: int | None
    event: str
    data: str
    at: float  # time.time() when the bytes carrying it were read
    port: int
    connection: int  # index in SSEClient.connections


@dataclass
class Connection:
    port: int
    sent_last_id: int | None
    opened: float
    closed: float | None = None
    how: str = ""  # "eof", "reset", "aborted", "final", "stopped"
    events: int = 0
    comments: int = 0


@dataclass
class SSEClient:
    """One 'browser tab': connects, records, reconnects with its last id."""

    name: str
    stream: str = "flights"
    last_id: int | None = None
    received: list[Received] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # failed attempts of follow()
    port: int | None = None
    _writer: asyncio.StreamWriter | None = None
    _reader_task: asyncio.Task[None] | None = None
    _follow_task: asyncio.Task[None] | None = None
    _stopping: bool = False

    # What was received

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.received if r.id is not None and r.event != "streamReset"]

    def events_named(self, name: str) -> list[Received]:
        return [r for r in self.received if r.event == name]

    def first_at(self, event_id: int) -> float | None:
        return next((r.at for r in self.received if r.id == event_id), None)

    @property
    def connected(self) -> bool:
        return self._reader_task is not None and not self._reader_task.done()

    async def wait_for_id(self, event_id: int, timeout: float) -> None:
        """Until an id >= event_id arrived; raises TimeoutError with what arrived."""
        deadline = time.monotonic() + timeout
        while not (self.last_id is not None and self.last_id >= event_id):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.name}: waited {timeout}s for id {event_id}; last id {self.last_id}, "
                    f"{len(self.received)} received, connections {self.connections[-3:]}"
                )
            await asyncio.sleep(0.02)

    # One connection

    async def connect(self, port: int, timeout: float = 10) -> None:
        """Open a stream on `port` (sending Last-Event-ID if we have one); return once the
        server's first bytes (`retry:`) arrived, i.e. once the server has subscribed us."""
        assert not self.connected, f"{self.name} is already connected"
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
        response = EventStreamResponse()
        first: list[ParsedEvent] = []
        at = time.time()
        try:
            path = f"/events/{self.stream}/"
            agent = f"User-Agent: sse-client/{self.name}"
            writer.write(stream_request(port, path, self.last_id, [agent]))
            await writer.drain()
            while response.status is None:
                chunk = await asyncio.wait_for(reader.read(65536), timeout)
                if not chunk:
                    raise ConnectError(f"{self.name}: port {port} closed the connection without answering")
                at = time.time()
                first = response.feed_events(chunk)
            if response.status != 200:
                raise ConnectError(f"{self.name}: port {port} answered {response.status} {response.headers}")
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                raise ConnectError(f"{self.name}: port {port} sent content-type {response.headers}")
        except BaseException:
            writer.transport.abort()
            raise
        connection = Connection(port, self.last_id, time.time())
        self.connections.append(connection)
        self.port = port
        self._writer = writer
        for event in first:
            self._record(event, at, connection)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if response.parser.retry is not None:
            ready.set_result(None)
        self._reader_task = asyncio.create_task(self._read(reader, response, connection, ready))
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout)
        except BaseException:
            self.abort()
            raise

    async def _read(
        self,
        reader: asyncio.StreamReader,
        response: EventStreamResponse,
        connection: Connection,
        ready: asyncio.Future[None],
    ) -> None:
        how = "eof"
        try:
            while True:
                if response.complete:
                    how = "final"
                    break
                chunk = await reader.read(65536)
                if not chunk:
                    break
                at = time.time()
                for event in response.feed_events(chunk):
                    self._record(event, at, connection)
                connection.comments = len(response.parser.comments)
                if response.parser.retry is not None and not ready.done():
                    ready.set_result(None)
        except asyncio.CancelledError:
            how = "aborted"
            raise
        except OSError:  # ConnectionResetError and its kin
            how = "reset"
        finally:
            connection.closed = time.time()
            connection.how = connection.how or how
            if not ready.done():
                ready.set_exception(ConnectError(f"{self.name}: stream ended before its first bytes ({how})"))
                ready.exception()  # retrieved: nobody may be waiting any more
            if self._writer is not None and self._reader_task is asyncio.current_task():
                self._writer.transport.abort()

    def _record(self, event: ParsedEvent, at: float, connection: Connection) -> None:
        port, index = connection.port, len(self.connections) - 1
        if event.event == "closedConnection":  # it has no id: the last one is not its own
            self.received.append(Received(None, event.event, event.data, at, port, index))
            return
        event_id = event_id_number(event)
        self.received.append(Received(event_id, event.event, event.data, at, port, index))
        connection.events += 1
        if event_id is not None:
            self.last_id = event_id

    async def wait_closed(self) -> None:
        """Until the current connection ended (never raises; cancelling the caller still works)."""
        if self._reader_task is not None:
            await asyncio.wait([self._reader_task])

    def abort(self) -> None:
        """Drop the connection abruptly (no FIN handshake wait: the socket is reset)."""
        if self.connections and not self.connections[-1].how:
            self.connections[-1].how = "aborted"
        if self._writer is not None:
            self._writer.transport.abort()
        if self._reader_task is not None:
            self._reader_task.cancel()

    # Many connections

    def follow(self, choose_port: Callable[[], int], retry_delay: float = 0.1) -> None:
        """Stay connected: whenever a connection ends (server gone, abort()), reconnect with the
        last id to `choose_port()`, retrying refused connections every `retry_delay`."""
        self._stopping = False
        self._follow_task = asyncio.create_task(self._follow(choose_port, retry_delay))

    async def _follow(self, choose_port: Callable[[], int], retry_delay: float) -> None:
        while not self._stopping:
            if not self.connected:
                try:
                    await self.connect(choose_port())
                except (OSError, ConnectError, TimeoutError) as error:
                    self.errors.append(repr(error))
                    await asyncio.sleep(retry_delay)
                    continue
            await self.wait_closed()
            if not self._stopping:
                await asyncio.sleep(retry_delay * random.random())

    async def stop(self) -> None:
        self._stopping = True
        if self._follow_task is not None:
            self._follow_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow_task
            self._follow_task = None
        if self.connections and not self.connections[-1].how:
            self.connections[-1].how = "stopped"
        self.abort()
        await self.wait_closed()

    def where(self, expected: Sequence[int]) -> str:
        """Around the first difference from `expected`: which connection (port, Last-Event-ID
        sent, how it ended) carried the ids before and after it."""
        ids = [r for r in self.received if r.id is not None]
        n = next((n for n, (r, e) in enumerate(zip(ids, expected, strict=False)) if r.id != e), None)
        if n is None:
            return ""
        lines = []
        for r in ids[max(0, n - 2) : n + 2]:
            c = self.connections[r.connection]
            lines.append(
                f"id {r.id} on connection #{r.connection} (port {c.port}, sent Last-Event-ID "
                f"{c.sent_last_id}, opened {c.opened:.3f}, ended {c.how} at {c.closed}, {c.events} events)"
            )
        return "; ".join(lines)


def sequence_problems(ids: Sequence[int], expected: Sequence[int]) -> str:
    """'' when `ids` == `expected`, else a short description of duplicates, gaps and disorder."""
    if list(ids) == list(expected):
        return ""
    seen: set[int] = set()
    duplicates = sorted({i for i in ids if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
    missing = sorted(set(expected) - set(ids))
    extra = sorted(set(ids) - set(expected))
    disorder = [(a, b) for a, b in zip(ids, ids[1:], strict=False) if b <= a]
    first_diff = next(
        (n for n, (a, b) in enumerate(zip(ids, expected, strict=False)) if a != b),
        min(len(ids), len(expected)),
    )

    def head(values: Sequence[object]) -> str:
        return f"{len(values)} {list(values[:10])}{'...' if len(values) > 10 else ''}"

    return (
        f"got {len(ids)} ids, expected {len(expected)} "
        f"({expected[0] if expected else '-'}..{expected[-1] if expected else '-'}); "
        f"first difference at index {first_diff}: got {list(ids[max(0, first_diff - 2) : first_diff + 3])}; "
        f"duplicates {head(duplicates)}; missing {head(missing)}; unexpected {head(extra)}; "
        f"out of order {head(disorder)}"
    )
