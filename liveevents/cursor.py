"""The client's position: a plain id on a stream's own URL, a cursor on the multiplexed endpoint.

A cursor is `name:n` pairs joined by `,`, the event's own stream first, for example
`terminal.2:41,announcements:7,flights:1203`: the connection's position in every stream it follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

MAX_ID_DIGITS = 19  # ids are PositiveBigIntegerField values


class MalformedPosition(ValueError):
    """The Last-Event-ID (or lastEventId) a client sent cannot be read; the message says why."""


def parse_id(raw: str) -> int:
    """A plain event id: a non-negative integer of at most 19 digits."""
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > MAX_ID_DIGITS:
        raise MalformedPosition(f"{raw[:40]!r} is not a non-negative integer")
    return int(text)


def parse_cursor(raw: str) -> dict[str, int]:
    """The positions of a cursor, by stream name. Raises MalformedPosition."""
    positions: dict[str, int] = {}
    for pair in raw.strip().split(","):
        name, colon, number = pair.partition(":")
        if not colon or not name:
            raise MalformedPosition(f"{raw[:60]!r} is not a list of stream:id pairs joined by ','")
        if name in positions:
            raise MalformedPosition(f"stream {name[:40]!r} appears twice in {raw[:60]!r}")
        positions[name] = parse_id(number)
    return positions


def format_cursor(positions: Mapping[str, int], first: str, order: Iterable[str]) -> str:
    """The cursor with `first` first, then the other streams in `order`."""
    pairs = [f"{first}:{positions[first]}"]
    pairs.extend(f"{name}:{positions[name]}" for name in order if name != first)
    return ",".join(pairs)
