"""Redis commands per published event do not grow with connections (one subscription per stream per
process).

    .venv/bin/python -m benchmarks.redis_commands [--connections 10,1000] [--events 50]
        [--redis-url redis://127.0.0.1:6379/N | --private-redis]

Starts two daphne processes on one fresh PostgreSQL database (created here, dropped at the end) and
channels_redis on a claimed empty Redis DB number (or --redis-url's). For each C in --connections
it opens C SSE connections to /events/flights/, split evenly across both processes
(benchmarks.support.sse_client), waits until every
one has received its `retry:` line (subscribed) and a second of idle, runs CONFIG RESETSTAT, lets a
separate Python process (benchmarks.support.site_commands) save a Flight E times (one transaction
each, so E events through the real
binding -> publish -> on_commit -> group_send path), waits until every connection has received all
E events, then reads INFO commandstats and prints Redis commands per published event.

INFO commandstats is server-wide, and calls made inside Lua scripts (channels_redis uses EVAL) are
counted under their own names as well as under EVAL. On a shared Redis, other clients' commands
would be counted too, so the script also runs MONITOR during the measurement and prints the
commands of its own DB number only (client commands and Lua calls separately). --private-redis
starts a throwaway redis-server on a free port instead, where both counts must agree.

Not excluded, so that the figures are the real cost: the publisher's group_send, each process's
receive loop (EVAL cleanup + BZPOPMIN, re-armed every 5 s when idle: channels_redis brpop_timeout),
and the hub's tick (every HEARTBEAT/2 = 7.5 s with Redis: ZADD + EXPIRE once per stream per
process). The measurement's duration is printed so these can be related to it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import redis

from benchmarks.redis_monitor import Monitor, commandstats
from benchmarks.support import BASE_DIR
from benchmarks.support.limits import raise_open_files
from benchmarks.support.machine import describe
from benchmarks.support.servers import ServerProcess, daphne_command
from benchmarks.support.services import RedisServer, fresh_database, private_redis_db
from benchmarks.support.sites import SITE_COMMANDS, Site
from benchmarks.support.sse_client import SSEClient

CONNECT_CONCURRENCY = 50  # Twisted's listen backlog is 50: more SYNs at once only get retried.
VERSIONS = ("Django", "channels", "channels-redis", "daphne", "Twisted", "redis", "psycopg")


async def open_all(clients: list[SSEClient], servers: list[ServerProcess]) -> list[str]:
    """Connect every client (round-robin over the servers), CONNECT_CONCURRENCY at a time; the
    failures."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one(index: int, client: SSEClient) -> None:
        async with gate:
            await client.connect(servers[index % len(servers)].port, timeout=60)

    outcomes = await asyncio.gather(*(open_one(i, c) for i, c in enumerate(clients)), return_exceptions=True)
    return [repr(outcome) for outcome in outcomes if isinstance(outcome, BaseException)]


async def measure(
    servers: list[ServerProcess], site: Site, connections: int, events: int, redis_url: str, db: int
) -> dict[str, object]:
    clients = [SSEClient(f"C{n}") for n in range(connections)]
    started = time.monotonic()
    try:
        failed = await asyncio.wait_for(open_all(clients, servers), 300)
        connect_seconds = time.monotonic() - started
        if failed:
            raise RuntimeError(f"{len(failed)} connections failed, e.g. {failed[:3]}")
        await asyncio.sleep(1.0)  # idle: every connection subscribed and quiet

        publisher = subprocess.Popen(
            [sys.executable, "-m", SITE_COMMANDS, "save", "--count", str(events), "--wait"],
            cwd=BASE_DIR, env=site.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert publisher.stdin is not None and publisher.stdout is not None
        line = await asyncio.to_thread(publisher.stdout.readline)
        if not line.startswith("ready "):
            raise RuntimeError(f"publisher failed: {line!r}")
        base = int(line.split()[1])

        control = redis.Redis.from_url(redis_url)
        with Monitor(redis_url, db, control) as monitor:
            control.config_resetstat()
            t0 = time.monotonic()
            publisher.stdin.write("go\n")
            publisher.stdin.flush()
            while not (done := await asyncio.to_thread(publisher.stdout.readline)).startswith("done "):
                if not done:
                    raise RuntimeError("publisher ended without its last line")
            publisher.wait(timeout=60)
            _, last, publish_seconds = done.split()
            if int(last) != base + events:
                raise RuntimeError(f"expected head {base + events}, publisher saw {last}")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if all((c.last_id or 0) >= base + events for c in clients):
                    break
                await asyncio.sleep(0.05)
            delivered_at = time.monotonic()
            stats = commandstats(control)
            t1 = time.monotonic()
        control.close()
        if monitor.error:
            raise RuntimeError(f"MONITOR failed: {monitor.error!r}")
        expected = list(range(base + 1, base + events + 1))
        ids = [[i for i in client.ids if i > base] for client in clients]
        stats = {k: v for k, v in stats.items() if k not in ("config|resetstat", "config", "info")}
        return {
            "connections": connections,
            "events": events,
            "connect_seconds": connect_seconds,
            "publish_seconds": float(publish_seconds),
            "deliver_seconds": delivered_at - t0,
            "duration": t1 - t0,
            "delivered": sum(len(one) for one in ids),
            "complete": sum(1 for one in ids if one[:events] == expected),
            "stats": stats,
            "monitor_client": dict(monitor.client_calls),
            "monitor_lua": dict(monitor.lua_calls),
            "monitor_other_dbs": dict(monitor.other_dbs),
        }
    finally:
        await asyncio.gather(*(client.stop() for client in clients))
        await asyncio.sleep(1.0)  # let the servers notice the disconnects


def print_table(results: list[dict[str, object]]) -> None:
    def table(title: str, key: str) -> None:
        names = sorted({name for r in results for name in r[key]})  # type: ignore[attr-defined]
        heads = [f"C={r['connections']}" for r in results]
        print(f"\n{title}")
        print(f"  {'command':<22}" + "".join(f"{h:>22}" for h in heads))
        print(f"  {'':<22}" + "".join(f"{'calls  (per event)':>22}" for _ in heads))
        totals = [0] * len(results)
        for name in names:
            row = f"  {name:<22}"
            for i, r in enumerate(results):
                calls = r[key].get(name, 0)  # type: ignore[attr-defined]
                totals[i] += calls
                row += f"{calls:>12}  ({calls / r['events']:>6.2f})"  # type: ignore[operator]
            print(row)
        row = f"  {'TOTAL':<22}"
        for i, r in enumerate(results):
            row += f"{totals[i]:>12}  ({totals[i] / r['events']:>6.2f})"  # type: ignore[operator]
        print(row)

    print("\nRuns")
    print(
        f"  {'C':>6} {'E':>5} {'connect s':>10} {'publish s':>10} {'all delivered s':>16} "
        f"{'measured s':>11} {'events delivered':>17} {'clients complete':>17}"
    )
    for r in results:
        print(
            f"  {r['connections']:>6} {r['events']:>5} {r['connect_seconds']:>10.1f} "
            f"{r['publish_seconds']:>10.2f} {r['deliver_seconds']:>16.2f} {r['duration']:>11.2f} "
            f"{r['delivered']:>8} / {r['connections'] * r['events']:<7} "  # type: ignore[operator]
            f"{r['complete']:>8} / {r['connections']:<7}"
        )
    table("INFO commandstats (server-wide; Lua-internal calls counted under their own names too)", "stats")
    table("MONITOR, benchmark DB only: commands sent by clients", "monitor_client")
    table("MONITOR, benchmark DB only: calls made inside Lua scripts (EVAL)", "monitor_lua")
    for r in results:
        if r["monitor_other_dbs"]:
            print(
                f"  C={r['connections']}: MONITOR also saw, in other DB numbers: {r['monitor_other_dbs']} "
                "(HELLO on a new connection runs before its SELECT; anything else is another client's "
                "traffic, counted in commandstats but not in the MONITOR tables)."
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.redis_commands",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--connections", default="10,1000", help="comma-separated C values (default 10,1000)")
    parser.add_argument(
        "--events", type=int, default=50, help="events published per measurement (default 50)"
    )
    parser.add_argument("--processes", type=int, default=2, help="daphne processes (default 2)")
    parser.add_argument("--redis-url", help="an empty DB number of yours (default: one claimed among 1..15)")
    parser.add_argument(
        "--private-redis", action="store_true", help="start a throwaway redis-server on a free port instead"
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.connections.split(",") if c.strip()]
    if not counts or min(counts) < 1 or args.events < 1 or max(counts) > 20_000 or args.events > 10_000:
        parser.error("connections in 1..20000, events in 1..10000")

    for line in describe(VERSIONS):
        print(line)
    limits = raise_open_files(max(counts) + 1024)
    print(f"RLIMIT_NOFILE soft/hard: {limits[0]}/{limits[1]}")

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="redis-commands-")))
        if args.private_redis:
            own = RedisServer(tmp / "redis.log")
            own.start()
            stack.callback(own.stop)
            redis_url = own.url
        else:
            if args.redis_url and int(urllib.parse.urlsplit(args.redis_url).path.strip("/") or 0) == 0:
                parser.error("use a private Redis DB number (not 0) on a shared server")
            redis_url = stack.enter_context(private_redis_db(args.redis_url))
        db = int(urllib.parse.urlsplit(redis_url).path.strip("/") or 0)
        database_url = stack.enter_context(fresh_database("bench_redis_cmds"))
        print(f"redis: {redis_url}   database: {database_url}")
        site = Site(tmp / "var", {"DATABASE_URL": database_url, "REDIS_URL": redis_url})
        site.prepare()
        servers = [
            ServerProcess(f"daphne-{i}", daphne_command, site.env(), tmp / f"daphne-{i}.log")
            for i in range(args.processes)
        ]
        for server in servers:
            stack.callback(server.stop)
            server.start()
        print(f"daphne processes: {', '.join(f'pid {s.pid} port {s.port}' for s in servers)}")

        results = []
        for connections in counts:
            print(f"\nC={connections}: connecting...", flush=True)
            result = asyncio.run(measure(servers, site, connections, args.events, redis_url, db))
            print(
                f"C={connections}: delivered {result['delivered']} events, "
                f"measured for {result['duration']:.2f} s",
                flush=True,
            )
            results.append(result)
        print_table(results)
        print(
            "\nPer process and stream, independent of C: the hub's tick (ZADD + EXPIRE every 7.5 s), the "
            "receive loop (EVAL + BZPOPMIN, plus ZADD + ZPOPMIN per message received); per event: the "
            "publisher's group_send (ZREMRANGEBYSCORE + ZRANGE + pipelined ZREMRANGEBYSCORE per member "
            "channel + EVAL)."
        )
        for server in servers:
            errors = server.log_lines("Traceback")
            if errors:
                print(f"warning: {len(errors)} tracebacks in {server.log_path.name}")


if __name__ == "__main__":
    main()
