"""Redis commands per published event do not grow with connections (one subscription per stream per
process).

    .venv/bin/python benchmarks/redis_commands.py [--connections 10,1000] [--events 50]
        [--redis-url redis://127.0.0.1:6379/9 | --private-redis]

Starts two daphne processes on one fresh PostgreSQL database (created here, dropped at the end) and
channels_redis on a private Redis DB number. For each C in --connections it opens C SSE connections
to /events/flights/, split evenly across both processes (raw asyncio sockets), waits until every
one has received its `retry:` line (subscribed) and a second of idle, runs CONFIG RESETSTAT, lets a
separate Python process save a Flight E times (one transaction each, so E events through the real
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
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import psycopg
import redis
from daphne_site import BASE_DIR, Site, free_port
from sse_wire import Event, ResponseParser, request

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
STREAM_PATH = "/events/flights/"
CONNECT_CONCURRENCY = 50  # Twisted's listen backlog is 50: more SYNs at once only get retried.

# The publishing process: django.setup(), then saves one Flight E times, one transaction each.
PUBLISHER = r"""
import sys, time
import django
django.setup()
from django.db import transaction
from flightboard.models import Flight
from liveevents.models import Stream

count = int(sys.argv[1])
flight = Flight.objects.order_by("flight").first()
states = ["landing", "landed", "delayed", ""]
print("ready", flush=True)
sys.stdin.readline()
started = time.monotonic()
for i in range(count):
    with transaction.atomic():
        flight.state = states[i % len(states)]
        flight.save()
last = Stream.objects.get(name="flights").last_id
print(f"done {last} {time.monotonic() - started:.3f}", flush=True)
"""


# Machine and versions


def machine_info() -> list[str]:
    def version(module: str) -> str:
        try:
            return __import__(module).__version__
        except Exception as error:  # pragma: no cover - informational only
            return f"? ({error})"

    memory = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    redis_server = "?"
    if shutil.which("redis-server"):
        redis_server = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True
        ).stdout.strip()
    return [
        f"machine: {platform.platform()}, nproc {os.cpu_count()}, {cpu}, memory {memory}",
        f"python {platform.python_version()}, django {version('django')}, channels {version('channels')}, "
        f"channels_redis {version('channels_redis')}, daphne {version('daphne')}, "
        f"redis-py {version('redis')}, psycopg {version('psycopg')}",
        f"redis-server: {redis_server}",
    ]


def raise_nofile(wanted: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE (inherited by the servers started afterwards) up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# PostgreSQL and Redis


@contextlib.contextmanager
def fresh_database():
    name = f"bench_redis_cmds_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def private_redis_server(tmp: Path):
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                client.ping()
                break
            time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def require_empty_db(url: str) -> None:
    """Refuse a Redis DB number that holds keys: it may be someone else's (tests pick empty ones)."""
    client = redis.Redis.from_url(url)
    size = client.dbsize()
    client.close()
    if size:
        raise SystemExit(f"{url} holds {size} keys: choose an empty DB number with --redis-url.")


def delete_layer_keys(url: str) -> int:
    """Remove channels_redis keys (prefix "asgi") from the benchmark's DB only."""
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match="asgi*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
    return len(keys)


class Monitor:
    """MONITOR in a thread: counts the commands of one DB number (client calls and Lua calls)."""

    STOP = "liveevents-bench-monitor-stop"

    def __init__(self, url: str, db: int, control: redis.Redis | None = None) -> None:
        self.url = url
        self.db = db
        # The benchmark's own control connection (CONFIG RESETSTAT, INFO) is not counted.
        self.control = control
        self.ignore_address = str(control.client_info()["addr"]) if control is not None else ""
        self.client_calls: Counter[str] = Counter()
        self.lua_calls: Counter[str] = Counter()
        self.other_dbs: Counter[str] = Counter()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> Monitor:
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("MONITOR did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        # Through the ignored control connection, so that stopping counts nothing.
        control = redis.Redis.from_url(self.url)
        if self.ignore_address:
            control.close()
            control = self.control
        control.echo(self.STOP)
        self.thread.join(timeout=20)

    def _run(self) -> None:
        client = redis.Redis.from_url(self.url, socket_timeout=120)
        try:
            with client.monitor() as monitor:
                self.ready.set()
                deadline = time.monotonic() + 600
                for entry in monitor.listen():
                    command = str(entry.get("command", ""))
                    if self.STOP in command:
                        return
                    name = command.split(" ", 1)[0].strip('"').lower()
                    if f"{entry.get('client_address')}:{entry.get('client_port')}" == self.ignore_address:
                        continue
                    if int(entry.get("db", -1)) != self.db:
                        self.other_dbs[f"{name} (db {entry.get('db')})"] += 1
                    elif entry.get("client_type") == "lua":
                        self.lua_calls[name] += 1
                    else:
                        self.client_calls[name] += 1
                    if time.monotonic() > deadline:
                        return
        except BaseException as error:
            self.error = error
            self.ready.set()
        finally:
            client.close()


def commandstats(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    result = {}
    for key, value in stats.items():
        name = key.removeprefix("cmdstat_")
        result[name] = int(value["calls"])
    return result


# SSE clients


class Reader:
    """One SSE connection: records ids of events after `base`."""

    def __init__(self) -> None:
        self.subscribed = asyncio.Event()
        self.ids: list[int] = []
        self.base = 0
        self.writer: asyncio.StreamWriter | None = None
        self.error: str | None = None
        self.ended = False

    async def run(self, port: int, gate: asyncio.Semaphore) -> None:
        response = ResponseParser()
        try:
            async with gate:
                reader, self.writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 60)
                self.writer.write(request(port, STREAM_PATH))
                # The first body bytes are the `retry:` line, written after the hub subscription.
                while not response.sse.retries:
                    chunk = await asyncio.wait_for(reader.read(65536), 60)
                    if not chunk:
                        self.ended = True
                        return
                    self.record(response.feed(chunk))
                    if response.status not in (None, 200):
                        self.error = f"HTTP {response.status}"
                        return
                self.subscribed.set()
            while not response.complete:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                self.record(response.feed(chunk))
            self.ended = True
        except (TimeoutError, OSError) as error:
            self.error = repr(error)
        finally:
            self.subscribed.set()

    def record(self, events: list[Event]) -> None:
        self.ids.extend(e.id for e in events if e.id is not None and e.id > self.base)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# One measurement


async def measure(
    sites: list[Site], connections: int, events: int, redis_url: str, db: int, database_url: str
) -> dict[str, object]:
    readers = [Reader() for _ in range(connections)]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.monotonic()
    tasks = [
        asyncio.create_task(reader.run(sites[i % len(sites)].port, gate)) for i, reader in enumerate(readers)
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(r.subscribed.wait() for r in readers)), 300)
        connect_seconds = time.monotonic() - started
        failed = [r.error for r in readers if r.error or r.ended]
        if failed:
            raise RuntimeError(f"{len(failed)} connections failed, e.g. {failed[:3]}")
        await asyncio.sleep(1.0)  # idle: every connection subscribed and quiet

        with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
            row = conn.execute("SELECT last_id FROM liveevents_stream WHERE name = 'flights'").fetchone()
        base = row[0] if row else 0
        for reader in readers:
            reader.base = base

        publisher = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(events)],
            cwd=BASE_DIR, env=sites[0].env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert publisher.stdin is not None and publisher.stdout is not None
        line = await asyncio.to_thread(publisher.stdout.readline)
        if line.strip() != "ready":
            raise RuntimeError(f"publisher failed: {line!r}")

        control = redis.Redis.from_url(redis_url)
        with Monitor(redis_url, db, control) as monitor:
            control.config_resetstat()
            t0 = time.monotonic()
            publisher.stdin.write("go\n")
            publisher.stdin.flush()
            done = await asyncio.to_thread(publisher.stdout.readline)
            publisher.wait(timeout=60)
            if not done.startswith("done "):
                raise RuntimeError(f"publisher failed: {done!r}")
            _, last, publish_seconds = done.split()
            last_id = int(last)
            if last_id != base + events:
                raise RuntimeError(f"expected head {base + events}, publisher saw {last_id}")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if all(len(r.ids) >= events for r in readers):
                    break
                await asyncio.sleep(0.05)
            delivered_at = time.monotonic()
            stats = commandstats(control)
            t1 = time.monotonic()
        control.close()
        if monitor.error:
            raise RuntimeError(f"MONITOR failed: {monitor.error!r}")
        expected = list(range(base + 1, base + events + 1))
        complete = sum(1 for r in readers if r.ids[:events] == expected)
        stats = {k: v for k, v in stats.items() if k not in ("config|resetstat", "config", "info")}
        return {
            "connections": connections,
            "events": events,
            "connect_seconds": connect_seconds,
            "publish_seconds": float(publish_seconds),
            "deliver_seconds": delivered_at - t0,
            "duration": t1 - t0,
            "delivered": sum(len(r.ids) for r in readers),
            "complete": complete,
            "stats": stats,
            "monitor_client": dict(monitor.client_calls),
            "monitor_lua": dict(monitor.lua_calls),
            "monitor_other_dbs": dict(monitor.other_dbs),
        }
    finally:
        for reader in readers:
            reader.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", default="10,1000", help="comma-separated C values (default 10,1000)")
    parser.add_argument(
        "--events", type=int, default=50, help="events published per measurement (default 50)"
    )
    parser.add_argument("--processes", type=int, default=2, help="daphne processes (default 2)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9", help="a private DB number")
    parser.add_argument(
        "--private-redis", action="store_true", help="start a throwaway redis-server on a free port instead"
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.connections.split(",") if c.strip()]
    if not counts or min(counts) < 1 or args.events < 1 or max(counts) > 20_000 or args.events > 10_000:
        parser.error("connections in 1..20000, events in 1..10000")

    for line in machine_info():
        print(line)
    limits = raise_nofile(max(counts) + 1024)
    print(f"RLIMIT_NOFILE soft/hard: {limits[0]}/{limits[1]}")

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="redis-commands-")))
        redis_url = stack.enter_context(private_redis_server(tmp)) if args.private_redis else args.redis_url
        db = int(urllib.parse.urlsplit(redis_url).path.strip("/") or 0)
        if not args.private_redis and db == 0:
            parser.error("use a private Redis DB number (not 0) on a shared server")
        require_empty_db(redis_url)
        stack.callback(delete_layer_keys, redis_url)
        database_url = stack.enter_context(fresh_database())
        print(f"redis: {redis_url}   database: {database_url}")
        env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
        sites = [Site(tmp / "var", env=env, log_name=f"daphne-{i}.log") for i in range(args.processes)]
        sites[0].prepare()
        for site in sites:
            stack.callback(site.stop)
            site.start()
        print(f"daphne processes: {', '.join(f'pid {s.pid} port {s.port}' for s in sites)}")

        results = []
        for connections in counts:
            print(f"\nC={connections}: connecting...", flush=True)
            result = asyncio.run(measure(sites, connections, args.events, redis_url, db, database_url))
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
        for site in sites:
            errors = [line for line in site.log_path.read_text().splitlines() if "Traceback" in line]
            if errors:
                print(f"warning: {len(errors)} tracebacks in {site.log_path.name}")


if __name__ == "__main__":
    main()
