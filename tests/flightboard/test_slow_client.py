"""A client that stops reading, against a real daphne: cut off at its queue bound, then replays."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from benchmarks.support.event_stream import EventStreamResponse, ParsedEvent
from benchmarks.support.raw_http import stream_request
from tests.flightboard.e2e.daphne_server import DaphneServer, prepare_var_dir

pytestmark = pytest.mark.timeout(180)

EVENTS = 2000
PAD = 2000  # 2 KB events: 4 MB in all, far more than the socket buffers hold


def open_raw_stream(
    port: int, last_id: int | None = None, receive_buffer: int | None = None
) -> socket.socket:
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    sock.sendall(stream_request(port, "/events/flights/", last_id))
    return sock


def read_available(
    sock: socket.socket,
    response: EventStreamResponse,
    events: list[ParsedEvent],
    *,
    until: int,
    timeout: float,
) -> str:
    """Read into `events` until there are `until`, the end of the connection, or `timeout` of silence."""
    sock.settimeout(timeout)
    try:
        while len(events) < until:
            chunk = sock.recv(65536)
            if not chunk:
                return "closed"
            events.extend(response.feed_events(chunk))
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "silent"
    return "complete"


def ticks(events: list[ParsedEvent]) -> list[int]:
    return [int(event.last_event_id) for event in events if event.event == "tick"]


def test_client_that_stops_reading_is_cut_off_and_replays_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEEVENTS_CONFIG", json.dumps({"QUEUE_SIZE": 50}))
    prepare_var_dir(tmp_path / "var")
    server = DaphneServer(tmp_path / "var", tmp_path / "daphne.log")
    server.start()
    try:
        _check_cut_off_and_replay(server)
    finally:
        server.stop()


def _check_cut_off_and_replay(server: DaphneServer) -> None:
    slow = open_raw_stream(server.port, receive_buffer=4096)
    response = EventStreamResponse()
    events: list[ParsedEvent] = []
    try:
        slow.settimeout(10)
        while response.parser.retry is None:  # the server has subscribed the stream
            events.extend(response.feed_events(slow.recv(200)))
        assert response.status == 200
        output = server.site.command(
            "publish", "--count", str(EVENTS), "--per-transaction", str(EVENTS), "--pad", str(PAD)
        )
        start_id = int(output.stdout.split()[1])  # `ready <head>`
        # Now read: whatever the buffers held arrives, then the connection ends, well short of all.
        outcome = read_available(slow, response, events, until=EVENTS, timeout=10)
        received = ticks(events)
        assert outcome in ("reset", "closed"), outcome
        assert len(received) < EVENTS
        assert received == list(range(start_id + 1, start_id + 1 + len(received)))
        last_id = received[-1] if received else start_id
    finally:
        slow.close()

    again = open_raw_stream(server.port, last_id=last_id)
    try:
        events = []
        read_available(again, EventStreamResponse(), events, until=EVENTS - len(received), timeout=20)
        replayed = ticks(events)
        assert received + replayed == list(range(start_id + 1, start_id + 1 + EVENTS))
        assert all(json.loads(event.data)["pad"] == "x" * PAD for event in events)
    finally:
        again.close()
