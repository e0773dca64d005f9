"""Writes to a site from a process of its own: `python -m benchmarks.support.site_commands COMMAND`.

    save [FLIGHT ...] [--all] [--count K] [--per-transaction B] [--interval S] [--jitter J]
         [--states A,B,...] [--wait] [--in-event-loop]
    publish [--count K] [--per-transaction LOW[,HIGH]] [--pause S] [--event NAME] [--pad N]
    create-flight CODE [--origin NAME] [--arrival HH:MM] [--model APP_LABEL.MODEL]
    admin-log-times PK

The site's settings come from the environment (benchmarks.support.sites.Site.env()). `save` and
`publish` print, one line each, flushed: `ready <head>` once set up (the flights stream's last id);
with --wait they then wait for a line on stdin; `committed <time.time()> <head>` at each commit,
stamped by the transaction's first on_commit callback (so before the channel layer is told);
`done <head> <seconds>`. The other two print their answer.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import random
import sys
import time
from collections.abc import Callable
from typing import Any

STREAM = "flights"
STATES = "landing,landed,delayed,"


def head() -> int:
    from liveevents.models import Stream

    return Stream.current_id(STREAM)


def stamp_commit() -> None:
    """Print `committed <time> <head>` when the current transaction commits."""
    from django.db import transaction

    transaction.on_commit(lambda: print("committed", time.time(), head(), flush=True))


def next_state(current: str, states: list[str]) -> str:
    """The state after `current` in `states`, cyclically (the first if `current` is not there):
    every save is a change."""
    return states[(states.index(current) + 1) % len(states)] if current in states else states[0]


def save_flights(
    codes: list[str],
    *,
    every_flight: bool = False,
    count: int = 1,
    per_transaction: int = 1,
    interval: float = 0.0,
    jitter: float = 0.0,
    states: list[str] | None = None,
) -> None:
    """`count` Flight.save()s (the binding publishes each), round-robin over the flights (`codes`,
    every flight, or the first by code), `per_transaction` per transaction, `interval` seconds
    (+- `jitter` * interval) after each transaction."""
    from django.db import transaction

    from flightboard.models import Flight

    flights = Flight.objects.order_by("flight")
    chosen = list(flights if every_flight else flights.filter(flight__in=codes) if codes else flights[:1])
    if not chosen:
        raise SystemExit(f"no such flight: {codes}")
    states = states if states is not None else STATES.split(",")
    done = 0
    while done < count:
        n = min(per_transaction, count - done)
        with transaction.atomic():
            stamp_commit()
            for i in range(done, done + n):
                flight = chosen[i % len(chosen)]
                flight.state = next_state(flight.state, states)
                flight.save()
        done += n
        if interval and done < count:
            time.sleep(interval * random.uniform(1 - jitter, 1 + jitter))


def publish_events(
    count: int, *, low: int = 1, high: int = 1, pause: float = 0.0, event: str = "tick", pad: int = 0,
    streams: tuple[str, ...] = (STREAM,),
) -> None:  # fmt: skip
    """`count` liveevents.publish() calls, data {"n": index} (and "pad": that many "x"), a random
    number in low..high per transaction (publish wakes the layer once per transaction), on
    `streams` in turn."""
    from django.db import transaction

    from liveevents.publish import publish

    first = 0
    while first < count:
        last = min(count, first + random.randint(low, high))
        with transaction.atomic():
            stamp_commit()
            for n in range(first, last):
                stream = streams[n % len(streams)]
                publish(stream, event, {"n": n, "pad": "x" * pad} if pad else {"n": n})
        first = last
        if pause:
            time.sleep(pause)


def writing(work: Callable[[], None], *, wait: bool, in_event_loop: bool) -> None:
    """ready, (wait), the writes, done. With `in_event_loop`, the writes run in one sync_to_async
    thread under one event loop, so that publish's async_to_sync(group_send) reuses that loop and
    its channel-layer connection (from plain sync code every event opens a new Redis connection,
    as a management command's would)."""
    print("ready", head(), flush=True)
    if wait:
        sys.stdin.readline()
    started = time.monotonic()
    if in_event_loop:
        from asgiref.sync import sync_to_async

        asyncio.run(sync_to_async(work)())
    else:
        work()
    print("done", head(), f"{time.monotonic() - started:.3f}", flush=True)


def create_flight(code: str, origin: str, arrival: str, model: str) -> None:
    from django.apps import apps

    flight, _ = apps.get_model(model).objects.get_or_create(
        flight=code, defaults={"origin": origin, "arrival": datetime.time.fromisoformat(arrival)}
    )
    print(flight.pk)


def admin_log_times(pk: str) -> None:
    """The action_time of every admin LogEntry about object `pk`, in order, as Unix times."""
    from django.contrib.admin.models import LogEntry

    for entry in LogEntry.objects.filter(object_id=pk).order_by("id"):
        print(entry.action_time.timestamp())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.support.site_commands",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("save", "publish"):
        sub = commands.add_parser(name)
        sub.add_argument("--count", type=int, default=1)
        sub.add_argument("--wait", action="store_true", help="start on a line from stdin")
        sub.add_argument("--in-event-loop", action="store_true")
    save, publish = commands.choices["save"], commands.choices["publish"]
    save.add_argument("flights", nargs="*", help="flight codes (default: the first by code)")
    save.add_argument("--all", action="store_true", help="every flight, round-robin")
    save.add_argument("--per-transaction", type=int, default=1)
    save.add_argument("--interval", type=float, default=0.0, help="seconds after each transaction")
    save.add_argument("--jitter", type=float, default=0.0, help="interval * uniform(1 - J, 1 + J)")
    save.add_argument("--states", default=STATES, help=f"cycled through (default {STATES!r})")
    publish.add_argument("--per-transaction", default="1", help="N, or LOW,HIGH (random)")
    publish.add_argument("--pause", type=float, default=0.0, help="seconds after each transaction")
    publish.add_argument("--event", default="tick")
    publish.add_argument("--pad", type=int, default=0, help="characters of padding in each event")
    publish.add_argument("--streams", default=STREAM, help=f"comma-separated, in turn (default {STREAM})")
    create = commands.add_parser("create-flight")
    create.add_argument("code")
    create.add_argument("--origin", default="Benchmark")
    create.add_argument("--arrival", default="23:59")
    create.add_argument("--model", default="flightboard.Flight")
    log_times = commands.add_parser("admin-log-times")
    log_times.add_argument("pk")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import django

    django.setup()
    work: Callable[[], Any]
    if args.command == "save":
        states = args.states.split(",")
        work = lambda: save_flights(  # noqa: E731
            args.flights, every_flight=args.all, count=args.count, per_transaction=args.per_transaction,
            interval=args.interval, jitter=args.jitter, states=states,
        )  # fmt: skip
    elif args.command == "publish":
        low, _, high = args.per_transaction.partition(",")
        work = lambda: publish_events(  # noqa: E731
            args.count, low=int(low), high=int(high or low), pause=args.pause, event=args.event, pad=args.pad,
            streams=tuple(args.streams.split(",")),
        )  # fmt: skip
    elif args.command == "create-flight":
        create_flight(args.code, args.origin, args.arrival, args.model)
        return
    else:
        admin_log_times(args.pk)
        return
    writing(work, wait=args.wait, in_event_loop=args.in_event_loop)


if __name__ == "__main__":
    main()
