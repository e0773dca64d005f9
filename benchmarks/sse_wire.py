"""Incremental parsing of an HTTP/1.1 SSE response for the raw-socket benchmark clients.

ResponseParser.feed(bytes) -> list of Event: status line and headers, chunked (or close-delimited)
body, then SSE fields. No Django, no third-party code.
"""

from __future__ import annotations

from typing import NamedTuple


class Event(NamedTuple):
    id: int | None
    event: str
    data: str


def request(port: int, path: str, last_event_id: int | None = None) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Accept: text/event-stream",
        "Cache-Control: no-cache",
    ]
    if last_event_id is not None:
        lines.append(f"Last-Event-ID: {last_event_id}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Dechunker:
    """Transfer-Encoding: chunked, incrementally. `done` once the last (0-size) chunk is read."""

    def __init__(self) -> None:
        self.buffer = b""
        self.remaining = 0  # bytes of the current chunk still to come
        self.expect_crlf = False
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buffer = self.buffer + data if self.buffer else data
        position = 0
        out = []
        while not self.done:
            if self.expect_crlf:
                if len(buffer) - position < 2:
                    break
                position += 2
                self.expect_crlf = False
            elif self.remaining:
                piece = buffer[position : position + self.remaining]
                if not piece:
                    break
                out.append(piece)
                position += len(piece)
                self.remaining -= len(piece)
                self.expect_crlf = self.remaining == 0
            else:
                end = buffer.find(b"\r\n", position)
                if end < 0:
                    break
                size = int(buffer[position:end].split(b";")[0].strip() or b"0", 16)
                position = end + 2
                if size == 0:
                    self.done = True
                else:
                    self.remaining = size
        self.buffer = buffer[position:]
        return b"".join(out)


class SSEParser:
    """text/event-stream fields -> events. Counts `retry:` lines and comments (keepalives)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.id: int | None = None
        self.event = ""
        self.data: list[str] = []
        self.has_fields = False
        self.retries = 0
        self.comments = 0

    def feed(self, data: bytes) -> list[Event]:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        events = []
        for raw in lines:
            line = raw.rstrip(b"\r").decode()
            if not line:
                if self.has_fields and (self.data or self.event):
                    events.append(Event(self.id, self.event or "message", "\n".join(self.data)))
                self.event, self.data, self.has_fields = "", [], False
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            self.has_fields = True
            if name == "id":
                self.id = int(value) if value.isdigit() else None
            elif name == "event":
                self.event = value
            elif name == "data":
                self.data.append(value)
            elif name == "retry":
                self.retries += 1
        return events


class ResponseParser:
    """An HTTP/1.1 response carrying SSE. `status` is None until the status line arrived;
    `complete` once a chunked body ended with its last chunk (the server ended the response)."""

    def __init__(self) -> None:
        self.head = b""
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.in_body = False
        self.dechunker: Dechunker | None = None
        self.sse = SSEParser()
        self.body_bytes = 0

    @property
    def complete(self) -> bool:
        return self.dechunker is not None and self.dechunker.done

    def feed(self, data: bytes) -> list[Event]:
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return []
            head, data = self.head[:end], self.head[end + 4 :]
            self.head = b""
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            self.status = int(status_line.split()[1])
            for line in header_lines:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                self.dechunker = Dechunker()
            self.in_body = True
        body = self.dechunker.feed(data) if self.dechunker is not None else data
        self.body_bytes += len(body)
        return self.sse.feed(body)
