"""What the metrics cost a broadcast: server CPU per connection per delivered event, METRICS on and
off, in one process.

    python -m benchmarks.metrics_cost [--connections 2000] [--events 200] [--rounds 5] [--multiprocess]

No server and no sockets: N stream bodies (liveevents.delivery.stream_body, as the view and the
router run them, one task each) follow `flights` on a hub in this process, on flightboard's
settings in a temporary var dir; events are handed to the hub as the channel layer would (with
their commit time), one after the other, each once every connection has written the one before.
What is left is the hub's fan-out and the bodies' hot loop, so the metrics' share is larger here
than behind a real server's write path: an upper bound. Rounds alternate on and off; the medians
are compared. --multiprocess: prometheus_client's multiprocess mode (values in mmap files).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def configure(var_dir: Path, multiprocess: bool) -> None:
    """flightboard's settings on a fresh SQLite file; before Django or prometheus_client load."""
    from benchmarks.support.sites import site_env

    os.environ.update(site_env(var_dir, {"DJANGO_LOG_LEVEL": "WARNING"}))
    if multiprocess:
        shared = var_dir / "prometheus"
        shared.mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


async def one_round(metrics: bool, connections: int, events: int) -> float:
    """Nanoseconds of this process's CPU per connection per event, over `events` broadcasts."""
    from django.test import override_settings

    from liveevents.access import NO_POSITIONS, Admission, ConnectionSlot
    from liveevents.delivery import stream_body
    from liveevents.hub import _hubs, get_hub
    from liveevents.wakeup import EVENT_MESSAGE

    quiet = {"MAX_CONNECTIONS": connections + 1, "HEARTBEAT": 3600, "CATCH_UP_INTERVAL": 3600}
    with override_settings(LIVEEVENTS={**quiet, "METRICS": metrics}):
        loop = asyncio.get_running_loop()
        _hubs.pop(loop, None)
        hub = get_hub()
        assert hub.metrics.enabled is metrics
        received = 0
        everyone = asyncio.Event()

        async def connection() -> None:
            nonlocal received
            admitted = hub.admit()
            assert admitted
            admission = Admission(hub, ("flights",), NO_POSITIONS, False, ConnectionSlot(hub))
            async for chunk in stream_body(admission):
                if chunk.startswith(b"id:"):
                    received += 1
                    if received == connections:
                        everyone.set()

        tasks = [asyncio.ensure_future(connection()) for _ in range(connections)]
        while sum(len(state.subscribers) for state in hub.streams.values()) < connections:
            await asyncio.sleep(0.01)
        first = hub.delivered("flights") or 0
        data = json.dumps({"flight": "I768", "origin": "Rome", "arrival": "10:10", "state": "landing"})
        spent = 0.0
        for n in range(first + 1, first + 1 + events):
            received = 0
            everyone.clear()
            message = {"type": EVENT_MESSAGE, "stream": "flights", "id": n, "event": "flightStateUpdate"}
            started = time.process_time()
            hub.handle_message({**message, "data": data, "committed_at": time.time()})
            await everyone.wait()
            spent += time.process_time() - started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hub.aclose()
        _hubs.pop(loop, None)
    return spent / (connections * events) * 1e9


async def measure(connections: int, events: int, rounds: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"on": [], "off": []}
    await one_round(False, connections, 5)  # warm up: imports, the database, the first hub
    for index in range(rounds):
        # Alternating, and in both orders, so that drift on a shared machine falls on both sides.
        order = ("on", "off") if index % 2 == 0 else ("off", "on")
        for mode in order:
            results[mode].append(await one_round(mode == "on", connections, events))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.metrics_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--events", type=int, default=200, help="broadcasts per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each mode, alternating")
    parser.add_argument("--multiprocess", action="store_true", help="prometheus_client's multiprocess mode")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="liveevents-metrics-cost-") as tmp:
        configure(Path(tmp), args.multiprocess)
        results = asyncio.run(measure(args.connections, args.events, args.rounds))
    on, off = statistics.median(results["on"]), statistics.median(results["off"])
    mode = "multiprocess" if args.multiprocess else "one process"
    print(f"{args.connections} connections, {args.events} events x {args.rounds} rounds, {mode}")
    for name, values in results.items():
        print(f"  METRICS {name:>3}: median {statistics.median(values):7.0f} ns per connection per event "
              f"(rounds: {', '.join(f'{v:.0f}' for v in values)})")  # fmt: skip
    print(f"  metrics cost: {on - off:+.0f} ns per connection per event ({(on - off) / off:+.1%})")
    report: dict[str, Any] = {"connections": args.connections, "events": args.events, "mode": mode, **results}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
