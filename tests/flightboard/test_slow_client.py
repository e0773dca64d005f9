"""A client that stops reading, against a real daphne: cut off at its queue bound, then replays."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.e2e.daphne_server import DaphneServer, prepare_var_dir
from tests.sse_parser import EventStreamParser

pytestmark = pytest.mark.timeout(180)

EVENTS = 2000
PAD = "x" * 2000  # 2 KB events: 4 MB in all, far more than the socket buffers hold


def open_raw_stream(
    port: int, last_id: int | None = None, receive_buffer: int | None = None
) -> socket.socket:
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    extra = f"Last-Event-ID: {last_id}\r\n" if last_id is not None else ""
    request = f"GET /events/flights/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{extra}\r\n"
    sock.sendall(request.encode())
    return sock


class ChunkedBody:
    """Incremental HTTP/1.1 response reader: skips the head, undoes chunked transfer coding."""

    def __init__(self) -> None:
        self.buffer = b""
        self.head_done = False

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        body = b""
        if not self.head_done:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return b""
            self.buffer = self.buffer[head_end + 4 :]
            self.head_done = True
        while True:
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return body
            size = int(self.buffer[:line_end], 16)
            if len(self.buffer) < line_end + 2 + size + 2:
                return body
            body += self.buffer[line_end + 2 : line_end + 2 + size]
            self.buffer = self.buffer[line_end + 2 + size + 2 :]


def read_available(
    sock: socket.socket, parser: EventStreamParser, *, until_events: int, timeout: float
) -> str:
    """Read until `until_events` events, the end of the connection, or `timeout` of silence."""
    sock.settimeout(timeout)
    body = ChunkedBody()
    try:
        while len(parser.events) < until_events:
            chunk = sock.recv(65536)
            if not chunk:
                return "closed"
            parser.feed(body.feed(chunk))
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "silent"
    return "complete"


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
    start_id = int(server.shell("from liveevents.models import Stream; print(Stream.current_id('flights'))"))
    slow = open_raw_stream(server.port, receive_buffer=4096)
    try:
        first = slow.recv(200)
        assert first.startswith(b"HTTP/1.1 200")
        server.shell(
            "from django.db import transaction\n"
            "from liveevents.publish import publish\n"
            f"with transaction.atomic():\n"
            f"    for n in range({EVENTS}): publish('flights', 'tick', {{'n': n, 'pad': {PAD!r}}})\n"
        )
        # Now read: whatever the buffers held arrives, then the connection ends, well short of all.
        parser = EventStreamParser()
        body = ChunkedBody()
        parser.feed(body.feed(first))
        slow.settimeout(10)
        outcome = "complete"
        try:
            while len(parser.events) < EVENTS:
                chunk = slow.recv(65536)
                if not chunk:
                    outcome = "closed"
                    break
                parser.feed(body.feed(chunk))
        except ConnectionResetError:
            outcome = "reset"
        except TimeoutError:
            outcome = "silent"
        received = [int(event.last_event_id) for event in parser.events if event.event == "tick"]
        assert outcome in ("reset", "closed"), outcome
        assert len(received) < EVENTS
        assert received == list(range(start_id + 1, start_id + 1 + len(received)))
        last_id = received[-1] if received else start_id
    finally:
        slow.close()

    again = open_raw_stream(server.port, last_id=last_id)
    try:
        parser = EventStreamParser()
        read_available(again, parser, until_events=EVENTS - len(received), timeout=20)
        replayed = [int(event.last_event_id) for event in parser.events if event.event == "tick"]
        assert received + replayed == list(range(start_id + 1, start_id + 1 + EVENTS))
        assert all(json.loads(event.data)["pad"] == PAD for event in parser.events)
    finally:
        again.close()
