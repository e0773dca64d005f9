"""flightboard.asgi:application as benchmarks.family_scale serves it: unchanged, plus
GET /__bench__/stats, this process's database queries (by table) and its hub's ticks, as JSON.

Queries are counted by a wrapper that every database connection of the process gets when it opens
(Django's execute_wrappers): they are the queries the server really sent, from whichever thread.
Ticks and membership renewals are timed by wrapping StreamHub.tick and LayerLink.join_many. The
stats request is answered here, without the ORM.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightboard.settings")

from django.db.backends.signals import connection_created  # noqa: E402

from flightboard.asgi import application as flightboard_application  # noqa: E402
from liveevents.hub import StreamHub, get_hub  # noqa: E402
from liveevents.layer import LayerLink  # noqa: E402

STATS_PATH = "/__bench__/stats"
TABLES = ("liveevents_stream", "liveevents_event")

queries: Counter[str] = Counter()  # table -> queries; "<table> params" -> parameters sent with them
ticks: list[tuple[float, float]] = []  # (start, end) of each tick that ended, time.time()
ticking: list[float] = []  # the start of the tick under way, if one is
renewals: list[tuple[float, float, int]] = []  # (start, end, streams) of each LayerLink.join_many()
_lock = threading.Lock()


def count_query(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    table = next((t for t in TABLES if f'"{t}"' in sql), "other")
    with _lock:
        queries[table] += 1
        queries[f"{table} params"] += len(params or ())
    return execute(sql, params, many, context)


def instrument(sender: Any, connection: Any, **kwargs: Any) -> None:
    if count_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(count_query)


connection_created.connect(instrument)

_tick = StreamHub.tick


async def timed_tick(self: StreamHub) -> None:
    started = time.time()
    ticking.append(started)
    try:
        await _tick(self)
    finally:
        ticking.remove(started)
        ticks.append((started, time.time()))


StreamHub.tick = timed_tick  # type: ignore[method-assign]
_join_many = LayerLink.join_many


async def timed_join_many(self: LayerLink, streams: Any, *args: Any, **kwargs: Any) -> None:
    names, started = list(streams), time.time()
    await _join_many(self, names, *args, **kwargs)
    renewals.append((started, time.time(), len(names)))


LayerLink.join_many = timed_join_many  # type: ignore[method-assign]


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == STATS_PATH:
        hub = get_hub()
        with _lock:
            stats = {"queries": queries, "ticks": ticks, "ticking": ticking, "renewals": renewals,
                     "streams": len(hub.streams)}  # fmt: skip
            body = json.dumps(stats).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})
        return
    await flightboard_application(scope, receive, send)
