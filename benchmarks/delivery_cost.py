"""What sets every throughput and broadcast figure: CPU per connection per delivered event.

    .venv/bin/python -m benchmarks.delivery_cost [--connections 1000] [--events 300] [--repeat 3]

flightboard's own ASGI application (StreamBackpressure(StreamRouter(Django))), in this process, with
SQLite and the in-memory layer: N connections open on the `flights` stream, then events are handed
to the hub as the channel layer would hand them (hub.handle_message, the wake-up of a commit), and
the CPU time (time.process_time) until every connection has written each of them is divided by
N x events. No server and no socket: `send` only counts bytes, so the figure is liveevents' own
share: the fan-out, each connection's wake-up, its frame handling and the ASGI send call. The
server's write path (daphne's Twisted transport, uvicorn's) comes on top; benchmarks.run's
throughput step reports the whole server's CPU per connection and event.

How events arrive:
  one-by-one  each event written by every connection before the next is handed over (a steady
              rate slower than the fan-out: the worst case, one wake-up per connection per event)
  bursts-10   ten events handed over in one go (what queued up is written at once)
  multiplexed one-by-one, the connections on /events/?stream=flights&stream=announcements
  200/s, 1000/s  a steady rate, whatever the connections have written: a busy board
The p99 is from handing an event over to its write, on every 50th connection.

Publishing itself (the save, the log row, the layer) is per event, not per connection, and is
left out. Each figure is the median of --repeat runs, the connections kept open between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchmarks.support import BASE_DIR
from benchmarks.support.sites import Site
from benchmarks.support.stats import percentile

MODES = ("one-by-one", "bursts-10", "multiplexed", "200/s", "1000/s")


class Progress:
    """How many connections have written every event handed over so far; `done` resolves once
    all of them have."""

    def __init__(self, connections: int) -> None:
        self.connections = connections
        self.expected = 0
        self.reached = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def expect(self, events: int) -> asyncio.Future[None]:
        self.expected = events
        self.reached = 0
        self.done = asyncio.get_running_loop().create_future()
        return self.done


class Connection:
    """One request on the application: its receive() waits until told to disconnect; its send()
    counts events and bytes, and tells `progress` when it has written every event expected.
    Sampled connections also note when each of their writes happened."""

    __slots__ = ("bytes", "disconnect", "events", "progress", "started", "status", "writes")

    def __init__(self, progress: Progress, sampled: bool) -> None:
        self.bytes = 0
        self.events = 0
        self.status = 0
        self.progress = progress
        self.writes: list[tuple[int, float]] | None = [] if sampled else None
        self.started = asyncio.get_running_loop().create_future()
        self.disconnect = asyncio.get_running_loop().create_future()

    async def receive(self) -> dict[str, Any]:
        await asyncio.shield(self.disconnect)
        return {"type": "http.disconnect"}

    async def send(self, message: Mapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            return
        body = message.get("body", b"")
        self.bytes += len(body)
        before = self.events
        self.events += body.count(b"\nevent: flightStateUpdate")
        if self.writes is not None and self.events > before:
            self.writes.append((self.events, time.perf_counter()))
        progress = self.progress
        if before < progress.expected <= self.events:
            progress.reached += 1
            if progress.reached == progress.connections:
                progress.done.set_result(None)
        if not self.started.done():
            self.started.set_result(None)


def scope(path: str, query: str = "") -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": [(b"host", b"127.0.0.1"), (b"accept", b"text/event-stream")],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip


async def measure(connections: int, events: int, repeat: int, modes: list[str]) -> dict[str, Any]:
    from flightboard.asgi import application
    from liveevents.hub import get_hub
    from liveevents.wakeup import EVENT_MESSAGE

    data = json.dumps({"id": 1, "flight": "BA 2490", "origin": "Benchmark", "state": "landing"})
    hub = get_hub()

    def hand_over(handed: list[float]) -> None:
        handed.append(time.perf_counter())
        state = hub.streams["flights"]
        hub.handle_message(
            {"type": EVENT_MESSAGE, "stream": "flights", "id": state.delivered + 1,
             "event": "flightStateUpdate", "data": data, "committed_at": time.time()}
        )  # fmt: skip

    results: dict[str, Any] = {}
    for mode in modes:
        path, query = (
            ("/events/", "stream=flights&stream=announcements")
            if mode == "multiplexed"
            else ("/events/flights/", "")
        )
        progress = Progress(connections)
        conns = [Connection(progress, sampled=i % 50 == 0) for i in range(connections)]
        tasks = [asyncio.ensure_future(application(scope(path, query), c.receive, c.send)) for c in conns]
        await asyncio.wait_for(asyncio.gather(*(c.started for c in conns)), 120)
        assert all(c.status == 200 for c in conns), {c.status for c in conns}
        runs = []
        for _ in range(repeat):
            await asyncio.sleep(0.2)  # let the loop settle: every connection waits
            base = conns[0].events
            for c in conns:
                if c.writes is not None:
                    c.writes.clear()
            handed: list[float] = []
            started = time.process_time()
            wall = time.perf_counter()
            if mode.endswith("/s"):
                rate = int(mode[:-2])
                loop = asyncio.get_running_loop()
                first = loop.time() + 0.01
                for i in range(events):
                    loop.call_at(first + i / rate, hand_over, handed)
                await asyncio.wait_for(progress.expect(base + events), 120)
            else:
                burst = 10 if mode == "bursts-10" else 1
                for i in range(0, events, burst):
                    done = progress.expect(base + i + burst)
                    for _ in range(burst):
                        hand_over(handed)
                    await asyncio.wait_for(done, 60)
            cpu = time.process_time() - started
            wall = time.perf_counter() - wall
            latencies = arrival_latencies(conns, handed, base)
            delivered = connections * events
            runs.append({"ns": cpu * 1e9 / delivered, "wall_s": wall, "p99_ms": percentile(latencies, 99)})
        for c in conns:
            c.disconnect.set_result(None)
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        await asyncio.sleep(0.1)
        results[mode] = {
            "ns": statistics.median(r["ns"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "runs": [round(r["ns"]) for r in runs],
        }
    return results


def arrival_latencies(conns: list[Connection], handed: list[float], base: int) -> list[float]:
    """Milliseconds from handing each event to the hub to its write, on the sampled connections."""
    latencies: list[float] = []
    for c in conns:
        if c.writes is None:
            continue
        written = base
        for count, t in c.writes:
            latencies.extend((t - handed[n - base - 1]) * 1000 for n in range(written + 1, count + 1))
            written = count
    return sorted(latencies)


def child(connections: int, events: int, repeat: int, modes: list[str]) -> None:
    import django

    django.setup()
    results = asyncio.run(measure(connections, events, repeat, modes))
    print(json.dumps(results))


def run(connections: int, events: int, repeat: int, modes: list[str], env: dict[str, str]) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "benchmarks.delivery_cost", "--child",
        "--connections", str(connections), "--events", str(events), "--repeat", str(repeat),
        "--modes", ",".join(modes),
    ]  # fmt: skip
    completed = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=1800)
    if completed.returncode:
        raise RuntimeError(completed.stderr[-3000:])
    return json.loads(completed.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def report(
    connections: int, events: int, results: dict[str, Any], out: Callable[[str], None] = print
) -> None:
    out(f"CPU per connection per delivered event, {connections} connections, {events} events per run")
    out("| arrival | ns CPU per connection and event | p99 hand-over to write (ms) | runs (ns CPU) |")
    out("|---|---|---|---|")
    for mode, r in results.items():
        runs = ", ".join(f"{v:,}" for v in r["runs"])
        out(f"| {mode} | {r['ns']:,.0f} | {r['p99_ms']:.1f} | {runs} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.delivery_cost", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--events", type=int, default=300, help="events per run (default 300)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES), help=f"of {', '.join(MODES)} (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    modes = [mode for mode in args.modes.split(",") if mode]
    if not modes or any(mode not in MODES for mode in modes):
        parser.error(f"--modes: of {', '.join(MODES)}")
    if args.child:
        child(args.connections, args.events, args.repeat, modes)
        return
    with tempfile.TemporaryDirectory(prefix="delivery-cost-") as tmp:
        # No tick, keepalive or re-check during a run: only delivery is measured.
        config = {"CATCH_UP_INTERVAL": 3600, "HEARTBEAT": 7200, "MAX_CONNECTIONS": 100_000}
        site = Site(
            Path(tmp) / "var", {"LIVEEVENTS_CONFIG": json.dumps(config), "DJANGO_LOG_LEVEL": "WARNING"}
        )
        site.prepare(static=False)
        results = run(
            args.connections, args.events, args.repeat, modes, {**site.env(), "PYTHONHASHSEED": "0"}
        )
    report(args.connections, args.events, results)
    if args.json:
        args.json.write_text(json.dumps({"connections": args.connections, "events": args.events, **results}))


if __name__ == "__main__":
    main()
