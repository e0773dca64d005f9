"""A page following several streams over one connection fails over to another process (SIGKILL of
the first) and resumes every stream from its cursor: each exactly once and in order."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict

import pytest

from benchmarks.support.event_stream import EventStreamResponse, ParsedEvent
from benchmarks.support.raw_http import stream_request
from tests.flightboard.multiprocess.harness import SharedSite

pytestmark = [pytest.mark.multiprocess, pytest.mark.timeout(180)]

STREAMS = ("flights", "announcements")
PATH = "/events/?stream=flights&stream=announcements"


class CursorReader:
    """One multiplexed connection at a time, as EventSource: reconnects send the last cursor."""

    def __init__(self) -> None:
        self.events: list[tuple[int, ParsedEvent]] = []  # (port, event)
        self.cursor: str | None = None

    async def read(self, port: int, until: int, timeout: float) -> None:
        """Read from `port` until `until` events in all were received or the server goes away."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(stream_request(port, PATH, self.cursor))
        response = EventStreamResponse()
        deadline = time.monotonic() + timeout
        try:
            while len(self.events) < until and time.monotonic() < deadline:
                chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
                if not chunk:
                    return  # the process died: the browser would reconnect
                for event in response.feed_events(chunk):
                    self.events.append((port, event))
                    if event.last_event_id:
                        self.cursor = event.last_event_id
            assert response.status == 200
        except (ConnectionError, TimeoutError):
            return
        finally:
            writer.transport.abort()

    def numbers(self, stream: str) -> list[int]:
        """Per stream: the `n` of each event, in the order received."""
        return [json.loads(e.data)["n"] for _, e in self.events if e.last_event_id.startswith(stream + ":")]

    def positions(self) -> dict[str, list[int]]:
        seen: dict[str, list[int]] = defaultdict(list)
        for _, event in self.events:
            first, _, number = event.last_event_id.partition(",")[0].partition(":")
            seen[first].append(int(number))
        return seen


async def test_a_multiplexed_client_fails_over_and_resumes_every_stream(
    site: SharedSite, start_servers
) -> None:
    a, b = start_servers(2)
    client = CursorReader()
    first = asyncio.ensure_future(client.read(a.port, until=10**6, timeout=60))
    await asyncio.sleep(0.5)  # subscribed on A
    publishing = asyncio.ensure_future(site.publish(40, per_transaction=(1, 3), pause=0.05, streams=STREAMS))
    while len(client.events) < 8:
        await asyncio.sleep(0.01)
    a.stop(kill=True)  # SIGKILL: no drain, the connection just drops
    await first
    on_a = len(client.events)
    await publishing  # the rest was committed while the client had no connection
    await client.read(b.port, until=40, timeout=30)
    assert on_a < 40, "everything arrived before the kill: nothing was replayed"
    assert {port for port, _ in client.events} == {a.port, b.port}
    # Each stream exactly once and in order, across the two processes.
    assert client.numbers("flights") == list(range(0, 40, 2))
    assert client.numbers("announcements") == list(range(1, 40, 2))
    positions = client.positions()
    for stream in STREAMS:
        head = site.head(stream)
        assert positions[stream] == list(range(head - 19, head + 1))
