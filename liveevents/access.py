"""The checks a stream request must pass, in one place and one order: an Admission, or the Refusal
to answer with. The Django view and the ASGI router both ask here.

The order: which streams (400, 404), who may read them (403: before anything else is said about a
stream the client may not read), what the client accepts (406), its position (400), closed
streams (204), the connection cap (503). A request admitted is counted against the cap at once,
so a burst of requests can never exceed it, and until its slot is released.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from django.http import HttpRequest

from liveevents.conf import get_config
from liveevents.cursor import MalformedPosition, parse_cursor, parse_id
from liveevents.guard import Guarded
from liveevents.hub import StreamHub, get_hub
from liveevents.log import read_heads, run_in_db_thread
from liveevents.streams import StreamSpec, UnknownStream, resolve_stream


@dataclass(frozen=True, slots=True)
class Refusal:
    """The answer to a request that may not stream: a status and a plain-text message."""

    status: int
    message: str = ""
    retry_after: int | None = None


class ConnectionSlot:
    """A connection counted against the hub's cap; released once, when its response ends."""

    __slots__ = ("held", "hub")

    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.hub.release()


@dataclass(frozen=True, slots=True)
class Admission:
    """A request that passed every check: the streams to serve and where the client stands."""

    hub: StreamHub
    streams: tuple[str, ...]
    # The client's position per stream; a stream absent from it starts live from now.
    positions: Mapping[str, int]
    # The multiplexed endpoint (/events/?stream=...): cursors as ids, per-stream closes.
    multiplexed: bool
    slot: ConnectionSlot
    # Who reads the non-public streams among them, for the hub to ask again; None: all public.
    guarded: Guarded | None = None


async def check_request(request: HttpRequest, stream: str | None) -> Admission | Refusal:
    """Check a request for `stream` (/events/<stream>/) or, with None, for the streams named by
    the multiplexed endpoint's `?stream=` parameters."""
    config = get_config()
    multiplexed = stream is None
    if stream is None:
        names = tuple(dict.fromkeys(request.GET.getlist("stream")))
        limit = config["MAX_STREAMS_PER_CONNECTION"]
        if not names or len(names) > limit:
            return Refusal(
                400, f"Name 1 to {limit} streams to follow: ?stream=A&stream=B (got {len(names)})."
            )
    else:
        names = (stream,)
    specs: list[StreamSpec] = []
    for name in names:
        try:
            specs.append(resolve_stream(name))
        except UnknownStream as error:
            return Refusal(404, str(error))
    for spec in specs:
        # In the log readers' threads: they live as long as the process, and so do their
        # connections (a short-lived thread's would be left for the garbage collector, unclosed).
        if not spec.public and not await run_in_db_thread(spec.allows, request):
            return Refusal(403, f"You may not read stream {spec.name!r}.")
    if not request.accepts("text/event-stream"):
        return Refusal(406, "This URL serves Server-Sent Events: send 'Accept: text/event-stream'.")
    try:
        positions = read_positions(request, names, multiplexed)
    except MalformedPosition as error:
        if multiplexed:
            return Refusal(
                400,
                f"Invalid cursor: {error}. Last-Event-ID (or lastEventId) on this endpoint is "
                "stream:id pairs joined by ',', e.g. 'flights:12,announcements:3'.",
            )
        return Refusal(
            400,
            f"Invalid last event id: {error}. Send Last-Event-ID (or lastEventId) as the last id received.",
        )
    hub = get_hub()
    if await _all_closed(hub, names):
        return Refusal(204)
    private = tuple(spec for spec in specs if not spec.public)
    # In a log reader's thread too: who reads is request.user, which readers that never looked at
    # it leave unloaded, and loading it uses the ORM. Before admit(): nothing awaits once counted.
    guarded = await run_in_db_thread(Guarded.of, request, private) if private else None
    if not hub.admit():
        return Refusal(
            503,
            "This server is shutting down or has too many open streams; retry later.",
            retry_after=config["RETRY_AFTER"],
        )
    return Admission(hub, names, positions, multiplexed, ConnectionSlot(hub), guarded)


NO_POSITIONS: Mapping[str, int] = MappingProxyType({})  # shared by every client that sends none


def read_positions(request: HttpRequest, names: tuple[str, ...], multiplexed: bool) -> Mapping[str, int]:
    """The client's positions: from the Last-Event-ID header, else the lastEventId query parameter
    (an empty header counts as absent). Streams it does not name start live."""
    raw = request.headers.get("Last-Event-ID")
    if raw is None or not raw.strip():
        raw = request.GET.get("lastEventId")
    if raw is None or not raw.strip():
        return NO_POSITIONS
    if not multiplexed:
        return {names[0]: parse_id(raw)}
    positions = parse_cursor(raw)
    # A stream the client no longer asks for may linger in its cursor: it is simply not served.
    return {name: positions[name] for name in names if name in positions}


async def _all_closed(hub: StreamHub, names: tuple[str, ...]) -> bool:
    unknown = []
    for name in names:
        closed = hub.is_closed(name)
        if closed is False:
            return False
        if closed is None:
            unknown.append(name)
    if unknown:
        heads = await run_in_db_thread(read_heads, unknown)
        return all(name in heads and heads[name].closed for name in unknown)
    return True
