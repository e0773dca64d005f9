"""One server process with N connections each on its own stream of a family, against N on one.

    python -m benchmarks.family_scale [--connections 10000 | --quick] [--servers daphne,uvicorn]

flightboard (`flight.{code}` is a PUBLIC family) on a fresh PostgreSQL database, channels_redis on a
private redis-server, one server process of benchmarks/family_asgi (it counts the process's queries,
times its ticks and group joins); a fresh server and an empty Redis per case: `flights` x N,
`flight.<n>` x 100 and x N (a stream per connection). Measured: RSS per connection (settled RSS with
N open minus with 10 warm-up ones, / N); queries per idle hub tick (CATCH_UP_INTERVAL = --tick) and
per connection opened; channels_redis group keys and members, and those left once all closed; Redis
commands per idle tick and, for the families, Redis commands and server CPU per event (--events on
random streams from another process, right after a tick; INFO commandstats, Lua calls included);
publish-to-receipt latency (--latency-events on random streams, --pace s apart, across ticks and
any renewal of the memberships; time zero: the commit); events at any other connection (none).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.family_scale_report import CASES, report
from benchmarks.redis_monitor import commandstats
from benchmarks.support import BASE_DIR
from benchmarks.support.limits import raise_open_files
from benchmarks.support.machine import describe
from benchmarks.support.memory import rss_kib, settled_kib
from benchmarks.support.processes import die_with_parent
from benchmarks.support.servers import ServerProcess, daphne_command, uvicorn_command
from benchmarks.support.services import RedisServer, fresh_database
from benchmarks.support.sites import SITE_COMMANDS, Site
from benchmarks.support.sse_client import SSEClient
from benchmarks.support.stats import summarise

APP = "benchmarks.family_asgi:application"
VERSIONS = ("Django", "channels", "channels-redis", "daphne", "Twisted", "uvicorn", "httptools", "uvloop")
OURS = ("info", "scan", "zcard", "flushdb")  # the harness's own Redis commands, not counted
HEADS = "liveevents_stream"
Result = dict[str, Any]


def case_names(case: str, count: int) -> tuple[list[str], list[str]]:
    """The streams of the case's connections, and of its warm-up connections."""
    if case == "single":
        return ["flights"] * count, ["flights"] * 10
    prefix = "A" if case == "family-100" else "F"
    return [f"flight.{prefix}{n:05d}" for n in range(count)], [f"flight.W{n:05d}" for n in range(10)]


async def stats(port: int) -> Result:
    url = f"http://127.0.0.1:{port}/__bench__/stats"
    return dict(json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=30).read())))


async def after_tick(port: int, count: int | None = None, timeout: float = 300) -> Result:
    """The stats once more than `count` ticks (default: as many as now) have ended."""
    count = len((await stats(port))["ticks"]) if count is None else count
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len((now := await stats(port))["ticks"]) > count:
            return now
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no hub tick within {timeout} s")


async def connect_all(port: int, names: list[str], concurrency: int) -> list[SSEClient]:
    gate = asyncio.Semaphore(concurrency)
    clients = [SSEClient(f"c{n}", stream=name) for n, name in enumerate(names)]

    async def one(client: SSEClient) -> None:
        async with gate:
            await client.connect(port, timeout=60)

    failed = [o for o in await asyncio.gather(*map(one, clients), return_exceptions=True) if o]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(names)} connections failed, e.g. {failed[0]!r}")
    return clients


def redis_calls(client: Any) -> dict[str, int]:
    return {name: calls for name, calls in commandstats(client).items() if name not in OURS}


def per(after: dict[str, int], before: dict[str, int], count: int) -> dict[str, float]:
    return {name: (n - before.get(name, 0)) / count for name, n in after.items() if n > before.get(name, 0)}


def groups(redis: Any) -> tuple[int, int]:  # channels_redis's group keys, and the memberships they hold
    keys = list(redis.scan_iter(match="asgi:group:*", count=1000))
    return len(keys), sum(redis.zcard(key) for key in keys)


def cpu_seconds(pid: int) -> float:  # user and system time so far
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def publish(site: Site, streams: list[str], event: str, pause: float, log: Path,
                  go: Callable[[], Awaitable[Any]] | None = None) -> tuple[list[float], Any]:  # fmt: skip
    """One event (data {"n": index}) per transaction on each of `streams` in turn, from another
    process, once `go()` (if given) returned: each commit's time.time(), and what go() returned."""
    command = [sys.executable, "-m", SITE_COMMANDS, "publish", "--count", str(len(streams)), "--event", event,
               "--streams", ",".join(streams), "--pause", str(pause), "--wait"]  # fmt: skip
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=BASE_DIR, env=site.env(), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=stderr, preexec_fn=die_with_parent,
        )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    ready = (await process.stdout.readline()).startswith(b"ready ")
    answer = await go() if ready and go else None
    if ready:  # else it failed: its log says why
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    committed = [float(line.split()[1]) async for line in process.stdout if line.startswith(b"committed ")]
    if await process.wait() or len(committed) != len(streams):
        raise RuntimeError(f"the publisher failed ({len(committed)} commits):\n{log.read_text()[-3000:]}")
    return committed, answer


async def delivered(clients: list[SSEClient], expected: dict[tuple[str, int], str], wait: float) -> list[Any]:
    """(event, n, the connection's stream, time) of every event of ours, once each expected one
    arrived at the connection of its stream (or after 60 s), and `wait` seconds more."""

    def received() -> list[Any]:
        return [(r.event, json.loads(r.data)["n"], c.stream, r.at) for c in clients for r in c.received
                if r.event in ("burst", "spread")]  # fmt: skip

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len({(e, n) for e, n, stream, _ in received() if expected.get((e, n)) == stream}) == len(expected):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(wait)
    return received()


async def run_case(server: ServerProcess, site: Site, case: str, count: int, args: argparse.Namespace,
                   redis: Any, work: Path) -> Result:  # fmt: skip
    names, warm_names = case_names(case, count)
    port, rng, out = server.port, random.Random(count), Result(connections=count)

    async def rss() -> int:
        return await asyncio.to_thread(settled_kib, lambda: rss_kib(server.pid), 10)

    async def events() -> None:
        async def after_a_tick() -> tuple[Result, dict[str, int], float]:
            return await after_tick(port), redis_calls(redis), cpu_seconds(server.pid)

        burst = [rng.choice(names) for _ in range(args.events)]
        _, (tick, calls, cpu) = await publish(site, burst, "burst", 0, work / "publisher.log", after_a_tick)
        expected = {("burst", n): name for n, name in enumerate(burst)}
        await delivered(clients, expected, 0)
        out["redis_by_command"] = per(redis_calls(redis), calls, len(burst))
        out["redis_per_event"] = sum(out["redis_by_command"].values())
        out["cpu_ms_per_event"] = (cpu_seconds(server.pid) - cpu) * 1000 / len(burst)
        end = await stats(port)
        out["ticks_in_event_window"] = len(end["ticks"]) - len(tick["ticks"]) + len(end["ticking"])

        # The first event opens the publisher's Redis connection: on a warm-up stream, not timed.
        spread = [warm_names[0], *(rng.choice(names) for _ in range(args.latency_events))]
        committed, _ = await publish(site, spread, "spread", args.pace, work / "publisher.log")
        expected.update({("spread", n): name for n, name in enumerate(spread)})
        got = await delivered([*clients, *warm], expected, 1)  # 1 s for anything sent astray
        right = [(event, n) for event, n, stream, _ in got if expected.get((event, n)) == stream]
        out["astray"], out["missing"] = len(got) - len(right), len(set(expected) - set(right))
        out["duplicates"] = len(right) - len(set(right))
        latencies = sorted((n, (at - committed[n]) * 1000) for event, n, stream, at in got
                           if event == "spread" and n and expected.get((event, n)) == stream)  # fmt: skip
        summary = summarise(ms for _, ms in latencies)
        out["latency_ms"] = {k: v for k, v in summary.items() if k != "quantiles"}
        out["latency_samples"], out["publish_times"] = latencies, committed
        end = await stats(port)
        out["ticks"], out["renewals"] = end["ticks"], end["renewals"]

    warm = await connect_all(port, warm_names, args.concurrency)
    clients: list[SSEClient] = []
    try:
        await asyncio.sleep(1)
        before, opening, started = await rss(), await stats(port), time.monotonic()
        clients = await connect_all(port, names, args.concurrency)
        out["connects_per_s"] = count / (time.monotonic() - started)
        await asyncio.sleep(2)
        out["kib_per_connection"] = (await rss() - before) / count
        opened = await stats(port)
        out["heads_per_open"] = (opened["queries"].get(HEADS, 0) - opening["queries"].get(HEADS, 0)) / count

        first = await after_tick(port)  # idle ticks, first to last
        calls = redis_calls(redis)
        last = await after_tick(port, len(first["ticks"]) + args.idle_ticks - 1)
        ticks = len(last["ticks"]) - len(first["ticks"])
        out["redis_per_tick"] = sum(per(redis_calls(redis), calls, ticks).values())
        delta = {k: v - first["queries"].get(k, 0) for k, v in last["queries"].items()}
        out["queries_per_tick"] = sum(v for k, v in delta.items() if not k.endswith(" params")) / ticks
        out["heads_per_tick"] = (delta.get(HEADS, 0) / ticks, delta.get(f"{HEADS} params", 0) / ticks)
        durations = [(end - start) * 1000 for start, end in last["ticks"][len(first["ticks"]) :]]
        out["tick_ms"] = (sum(durations) / len(durations), max(durations))
        out["groups"] = (*groups(redis), last["streams"])
        if case != "single":
            await events()
    finally:
        for client in [*warm, *clients]:
            client.abort()
    previous, left = None, groups(redis)[1]
    for _ in range(30):  # every connection closed: the process leaves its groups, until the count settles
        if left in (0, previous):
            break
        await asyncio.sleep(1)
        previous, left = left, groups(redis)[1]
    out["groups_left"] = left
    return out


def measure(server_name: str, site: Site, case: str, count: int, args: argparse.Namespace, redis: RedisServer,
            work: Path) -> Result:  # fmt: skip
    command = (lambda port: daphne_command(port, args.app, backlog=4096)) if server_name == "daphne" else (
        lambda port: uvicorn_command(port, args.app, "--http", "httptools", "--loop", "uvloop"))  # fmt: skip
    control = redis.client()
    control.flushdb()  # our own redis-server: the previous case's groups go
    log, ready = work / f"{server_name}-{case}.log", "/__bench__/stats"  # no page: the site may change
    server = ServerProcess(server_name, command, site.env(), log, ready_path=ready)
    server.start()
    try:
        print(f"{server_name}, {case} x {count}...", file=sys.stderr, flush=True)
        result = asyncio.run(run_case(server, site, case, count, args, control, work))
        text = server.log_text()
        if "Traceback" in text:  # the first one, for the reader
            print(text[text.index("Traceback") :][:3000], file=sys.stderr)
        return {**result, "tracebacks": text.count("Traceback")}
    finally:
        server.stop()
        control.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.family_scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--connections", type=int, help="N (default 10,000; 1,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: N 1,000, fewer events")
    parser.add_argument("--servers", default="daphne,uvicorn", help="daphne, uvicorn or both (default)")
    parser.add_argument("--events", type=int, help="events per Redis/CPU window (default 100; 50 quick)")
    parser.add_argument("--latency-events", type=int, help="latency samples (default 1,000; 100 quick)")
    parser.add_argument("--pace", type=float, default=0.05, help="seconds between latency events")
    parser.add_argument("--concurrency", type=int, default=200, help="connections opening at once (200)")
    parser.add_argument("--tick", type=float, default=5.0, help="CATCH_UP_INTERVAL, seconds (default 5)")
    parser.add_argument("--idle-ticks", type=int, default=3, help="ticks counted while idle (default 3)")
    parser.add_argument("--app", default=APP, help=f"ASGI application (default {APP})")
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--keep", help="a directory to keep the servers' and the publisher's logs in")
    args = parser.parse_args(argv)
    n = args.connections or (1000 if args.quick else 10_000)
    args.events = args.events or (50 if args.quick else 100)
    args.latency_events = args.latency_events or (100 if args.quick else 1000)
    servers = [s for s in args.servers.split(",") if s]
    if not set(servers) <= {"daphne", "uvicorn"} or n < 100 or args.idle_ticks < 2:
        parser.error("--servers: daphne and/or uvicorn; --connections: 100 or more; --idle-ticks: 2 or more")
    print(f"python -m benchmarks.family_scale {' '.join(sys.argv[1:] if argv is None else argv)}")
    print("\n".join(describe(VERSIONS)))
    raise_open_files(n * 2 + 1000)
    results: dict[str, dict[str, Result]] = {}
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        work = Path(args.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="family-scale-")))
        work.mkdir(parents=True, exist_ok=True)
        redis = RedisServer(work / "redis.log")
        redis.start()
        stack.callback(redis.stop)
        config = json.dumps({"MAX_CONNECTIONS": 100_000, "CATCH_UP_INTERVAL": args.tick})
        database = stack.enter_context(fresh_database("bench_family_scale"))
        site = Site(
            work / "var", {"DATABASE_URL": database, "REDIS_URL": redis.url, "LIVEEVENTS_CONFIG": config}
        )
        site.prepare()
        counts = {"single": n, "family-100": 100, "family": n}
        for server in servers:
            results[server] = {
                case: measure(server, site, case, counts[case], args, redis, work) for case in CASES
            }
    print(f"{len(servers)} server(s), a fresh one per case, {(time.monotonic() - started) / 60:.1f} min; "
          f"CATCH_UP_INTERVAL {args.tick} s; {args.events} events per Redis/CPU window, "
          f"{args.latency_events} latency events {args.pace} s apart")  # fmt: skip
    report(results, n)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
