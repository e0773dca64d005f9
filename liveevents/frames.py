"""Frames: the bytes a hub hands to connections, encoded once for all of them."""

from __future__ import annotations

import json
from typing import NamedTuple

from liveevents.log import LoggedEvent
from liveevents.sse import KEEPALIVE, encode_event, encode_retry


class Frame(NamedTuple):
    """What one connection writes.

    `stream` is None for frames of the connection as a whole (keepalives, the SIGTERM drain).
    Logged events and resets carry their `id`; `payload` starts with the `id: <n>` line a
    stream's own URL sends, and `payload[body_at:]` is the rest, behind which the multiplexed
    endpoint writes its cursor instead. `closed`: the stream was closed (`forbidden`: for this
    connection alone, its reader may no longer read it; `payload` is then what both endpoints
    write); `final`: the connection ends.
    """

    stream: str | None
    id: int | None
    payload: bytes
    body_at: int = 0
    reset: bool = False
    closed: bool = False
    final: bool = False
    forbidden: bool = False


def _with_id(stream: str, event_id: int, body: bytes, reset: bool = False) -> Frame:
    id_line = b"id: %d\n" % event_id
    return Frame(stream, event_id, id_line + body, len(id_line), reset=reset)


def logged_frame(stream: str, event: LoggedEvent) -> Frame:
    return _with_id(stream, event.id, encode_event(event.data, event=event.event))


def reset_frame(stream: str, current_id: int) -> Frame:
    """`streamReset`: the listener's id is too old or ahead of the log; it must reload its state."""
    data = json.dumps({"stream": stream, "lastEventId": current_id})
    return _with_id(stream, current_id, encode_event(data, event="streamReset"), reset=True)


def closed_frame(stream: str) -> Frame:
    """`closedConnection` on a stream's own URL: empty data, and the response ends."""
    return Frame(stream, None, encode_event("", event="closedConnection"), closed=True)


def forbidden_frame(stream: str) -> Frame:
    """`closedConnection` for one connection whose reader may no longer read `stream`: it names
    the stream and the reason on both endpoints, so a client knows not to come back."""
    data = json.dumps({"stream": stream, "reason": "forbidden"})
    return Frame(stream, None, encode_event(data, event="closedConnection"), closed=True, forbidden=True)


def closed_among_others(stream: str) -> bytes:
    """`closedConnection` on the multiplexed endpoint: it names the stream; the others go on."""
    return encode_event(json.dumps({"stream": stream}), event="closedConnection")


KEEPALIVE_FRAME = Frame(None, None, KEEPALIVE)
# SIGTERM: come back in 250 ms (to another process, behind a balancer) and replay from the log.
DRAIN_FRAME = Frame(None, None, encode_retry(250), final=True)
