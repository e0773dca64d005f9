"""Server-Sent Events wire encoding: pure functions from values to bytes."""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FORBIDDEN_IN_FIELD = re.compile(r"[\r\n\x00]")

KEEPALIVE = b": keepalive\n\n"


def check_field_value(kind: str, value: str) -> str:
    """Return `value` if it can be an `event:` or `id:` value, else raise ValueError."""
    if not value:
        raise ValueError(f"An SSE {kind} cannot be empty.")
    if _FORBIDDEN_IN_FIELD.search(value):
        raise ValueError(
            f"An SSE {kind} cannot contain CR, LF or NUL: {value!r}. "
            "Those characters would start a new field or be ignored by browsers."
        )
    return value


def encode_retry(milliseconds: int) -> bytes:
    """The `retry:` line that sets the browser's reconnection delay."""
    if milliseconds < 0:
        raise ValueError("retry must be a non-negative number of milliseconds.")
    return b"retry: %d\n\n" % milliseconds


def encode_comment(text: str) -> bytes:
    """A comment block; every line of `text` becomes its own comment line."""
    lines = _LINE_BREAK.split(text)
    return "".join(f": {line}\n" for line in lines).encode() + b"\n"


def encode_event(data: str, *, event: str | None = None, id: int | None = None) -> bytes:
    """One event block. Line breaks of any kind in `data` become separate `data:` lines,
    so the data can never end the event or start a field of its own."""
    parts = []
    if id is not None:
        # Only real non-negative ints: int() used to turn "1\n" or True into an id silently, and a
        # negative id would come back as a Last-Event-ID that the stream view refuses with 400.
        if isinstance(id, bool) or not isinstance(id, int) or id < 0:
            raise ValueError(f"An SSE id must be a non-negative integer, not {id!r}.")
        parts.append(f"id: {id}\n")
    if event is not None:
        parts.append(f"event: {check_field_value('event name', event)}\n")
    parts.extend(f"data: {line}\n" if line else "data:\n" for line in _LINE_BREAK.split(data))
    parts.append("\n")
    return "".join(parts).encode("utf-8", errors="replace")
