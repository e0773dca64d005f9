"""HTTP/1.1 over raw sockets, for clients that must see the bytes: the stream request, the
response head, chunked transfer decoding. No third-party code."""

from __future__ import annotations

from collections.abc import Iterable


def stream_request(
    port: int, path: str, last_event_id: str | int | None = None, headers: Iterable[str] = ()
) -> bytes:
    """GET `path` as EventSource asks for a stream (with Last-Event-ID when reconnecting)."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Accept: text/event-stream",
        "Cache-Control: no-cache",
        *headers,
    ]
    if last_event_id is not None:
        lines.append(f"Last-Event-ID: {last_event_id}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code (0 if the status line is not one) and lower-cased headers of a response head."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(status_line.split()[1])
    except (IndexError, ValueError):
        status = 0
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


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


class ResponseReader:
    """One HTTP/1.1 response, fed as it arrives: `status` and `headers` are set once the head has
    arrived (status None until then); feed() returns body bytes, de-chunked. `complete` once a
    chunked body ended with its last chunk: the server ended the response."""

    def __init__(self) -> None:
        self.head = b""
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.dechunker: Dechunker | None = None
        self.body_bytes = 0

    @property
    def complete(self) -> bool:
        return self.dechunker is not None and self.dechunker.done

    def feed(self, data: bytes) -> bytes:
        if self.status is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return b""
            head, data = self.head[:end], self.head[end + 4 :]
            self.head = b""
            self.status, self.headers = parse_head(head)
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                self.dechunker = Dechunker()
        body = self.dechunker.feed(data) if self.dechunker is not None else data
        self.body_bytes += len(body)
        return body
