"""A WHATWG-conformant event-stream parser: read what a server wrote as a browser would."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ParsedEvent:
    """One dispatched event, as a browser's EventSource would hand it to a listener."""

    event: str
    data: str
    last_event_id: str

    def json(self) -> Any:
        """The data decoded as JSON (bindings publish JSON)."""
        return json.loads(self.data)


@dataclass
class EventStreamParser:
    """Feed bytes; collect dispatched events, comments and retry values."""

    events: list[ParsedEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    last_event_id: str = ""
    _buffer: str = ""
    _data: str = ""
    _event: str = ""
    _pending_cr: bool = False
    _started: bool = False
    _decoder_tail: bytes = b""

    def feed(self, chunk: bytes) -> list[ParsedEvent]:
        before = len(self.events)
        raw = self._decoder_tail + chunk
        try:
            text = raw.decode("utf-8")
            self._decoder_tail = b""
        except UnicodeDecodeError as error:
            text = raw[: error.start].decode("utf-8")
            self._decoder_tail = raw[error.start :]
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        self._buffer += text
        while True:
            positions = [p for p in (self._buffer.find("\r"), self._buffer.find("\n")) if p >= 0]
            if not positions:
                break
            end = min(positions)
            line = self._buffer[:end]
            if self._buffer[end] == "\r":
                if end + 1 >= len(self._buffer):
                    break  # CR at the end: wait for a possible LF
                skip = 2 if self._buffer[end + 1] == "\n" else 1
            else:
                skip = 1
            self._buffer = self._buffer[end + skip :]
            self._line(line)
        return self.events[before:]

    def _line(self, line: str) -> None:
        if line == "":
            self._dispatch()
            return
        if line.startswith(":"):
            self.comments.append(line[1:].removeprefix(" "))
            return
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data += value + "\n"
        elif name == "id":
            if "\x00" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)

    def _dispatch(self) -> None:
        if self._data == "":
            self._event = ""
            return
        data = self._data.removesuffix("\n")
        self.events.append(ParsedEvent(self._event or "message", data, self.last_event_id))
        self._data = ""
        self._event = ""
