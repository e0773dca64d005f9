"""The benchmark's publish: one model save per event, stamped with time.time() at its commit.

Every Python peer publishes the same way: save one Flight row in transaction.atomic(); the
model's own signal publishes the event (liveevents' binding, or django-eventstream's send_event
on commit); the stamp is taken by the first on_commit callback, registered before the save, so it
runs at the commit and before the callbacks that wake the listeners.

Saves run either in the server process, behind `with_save_endpoint` (POST /__bench__/save, the
path of an admin save: liveevents' in-memory layer and django-eventstream's local listeners only
hear of writes made in their own process), or in a separate publisher process (benchmarks/
publisher.py, the path of a worker or a second web process; it needs Redis to reach the servers).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

SAVE_PATH = "/__bench__/save"
PING_PATH = "/__bench__/ping"
FLIGHT = "BENCH1"
STATES = ["landing", "landed", "delayed", ""]

Saver = Callable[[int], tuple[str, float]]
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

_flights: dict[str, Any] = {}


def _stamp_commit() -> list[float]:
    from django.db import transaction

    stamp: list[float] = []
    transaction.on_commit(lambda: stamp.append(time.time()))
    return stamp


def save_liveevents_flight(i: int) -> tuple[str, float]:
    """flightboard's Flight: its binding publishes flightStateUpdate. Returns (SSE id, commit time)."""
    from django.db import transaction

    from flightboard.models import Flight
    from liveevents.models import Stream

    flight = _flights.get("liveevents")
    if flight is None:
        flight = _flights["liveevents"] = Flight.objects.get(flight=FLIGHT)
    with transaction.atomic():
        stamp = _stamp_commit()
        flight.state = STATES[i % len(STATES)]
        flight.save()
        event_id = Stream.current_id("flights")  # ours: the stream row stays locked until commit
    return str(event_id), stamp[0]


def publish_liveevents_event(i: int) -> tuple[str, float]:
    """The flight's flightStateUpdate, published on its own with liveevents.publish.publish():
    what a save's binding writes on the `flights` stream, without the save and its other
    bindings. Returns (SSE id, commit time)."""
    from django.db import transaction

    from flightboard.models import Flight
    from liveevents.publish import publish

    flight = _flights.get("liveevents")
    if flight is None:
        flight = _flights["liveevents"] = Flight.objects.get(flight=FLIGHT)
    flight.state = STATES[i % len(STATES)]
    with transaction.atomic():
        stamp = _stamp_commit()
        event = publish("flights", "flightStateUpdate", flight.as_event_data())
    return str(event.sequence), stamp[0]


def save_eventstream_flight(i: int) -> tuple[str, float]:
    """The eventstream site's Flight: on commit, send_event stores and sends flightStateUpdate.
    Returns (SSE id as django-eventstream writes it, commit time)."""
    from django.db import transaction
    from django_eventstream.models import EventCounter

    from benchmarks.eventstream_site.models import Flight

    flight = _flights.get("eventstream")
    if flight is None:
        flight = _flights["eventstream"] = Flight.objects.get(flight=FLIGHT)
    with transaction.atomic():
        stamp = _stamp_commit()
        flight.state = STATES[i % len(STATES)]
        flight.save()
    # send_event ran on commit; saves are serial (one thread or one process), so this is its id.
    event_id = EventCounter.objects.get(name="flights").value
    return f"flights:{event_id}", stamp[0]


SAVERS: dict[str, Saver] = {
    "liveevents": save_liveevents_flight,
    "liveevents-publish": publish_liveevents_event,
    "eventstream": save_eventstream_flight,
}


async def save_paced(
    save: Callable[[int], Awaitable[tuple[str, float]]],
    count: int,
    interval: float,
    jitter: float,
    max_seconds: float = 0.0,
) -> list[tuple[str, float]]:
    """`count` saves, the i-th due at start + i * interval (+- jitter * interval); late saves run
    at once, so the achieved rate shows when the saving side cannot keep up. With `max_seconds`,
    no save starts after that long."""
    events = []
    start = time.monotonic()
    due = start
    for i in range(count):
        if max_seconds and time.monotonic() - start > max_seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        events.append(await save(i))
        due += interval * (1 + random.uniform(-jitter, jitter)) if jitter else interval
    return events


def with_save_endpoint(app: ASGIApp, saver: Saver) -> ASGIApp:
    """Wrap an ASGI application: /__bench__/ping answers 200, POST /__bench__/save?count=K&interval=S
    saves K times in this process and answers [[id, commit time], ...]. Everything else goes to
    `app` untouched (a path comparison per request)."""
    from asgiref.sync import sync_to_async

    # One thread for every save, like a sync view's: SQLite takes one writer at a time anyway.
    save_async = sync_to_async(saver, thread_sensitive=True)

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/__bench__/"):
            await app(scope, receive, send)
            return
        while (await receive()).get("more_body"):
            pass
        status, body = 404, b"not found\n"
        if scope["path"] == PING_PATH:
            status, body = 200, b"ok\n"
        elif scope["path"] == SAVE_PATH and scope["method"] == "POST":
            query = urllib.parse.parse_qs(scope.get("query_string", b"").decode())
            count = min(int(query.get("count", ["1"])[0]), 100_000)
            interval = float(query.get("interval", ["0"])[0])
            jitter = float(query.get("jitter", ["0"])[0])
            max_seconds = float(query.get("max_seconds", ["0"])[0])
            events = await save_paced(save_async, count, interval, jitter, max_seconds)
            status, body = 200, json.dumps(events).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return application
