"""A client that reads nothing while events flow: is it cut off, and what does the server hold for it?

    .venv/bin/python -m benchmarks.slow_client [--events 50000] [--batch 500]
        [--servers daphne,daphne-unwrapped,uvicorn] [--rcvbuf 4096] [--backend sqlite|pg-redis]
        [--redis-url redis://127.0.0.1:6379/N]

For each server, on a fresh temp site: daphne serving flightboard.asgi (Django wrapped in
liveevents.asgi.StreamBackpressure), daphne serving benchmarks/unwrapped_asgi.py (Django's bare ASGI
handler: daphne's send() never waits), and `python -m uvicorn flightboard.asgi:application` (its
send() waits for the transport; install it in the venv: pip install 'uvicorn>=0.30,<1'):

1. one normal client (benchmarks.support.sse_client: reads everything; if the server ends its
   stream it reconnects with Last-Event-ID, counted) and one slow client: a raw socket with
   SO_RCVBUF set before connect, which sends the GET and then reads nothing (it waits for the
   `retry:` line with MSG_PEEK, which leaves the bytes in the kernel buffer);
2. a separate process (benchmarks.support.site_commands) saves Flight rows (the real binding ->
   publish path), --batch saves per transaction, --events in all, as fast as it can;
3. the server's VmRSS is read before, at every 10,000 events published, after the normal client has
   everything, and after the slow client has read; the peak is VmHWM (the kernel's high-water mark)
   and a 0.2 s sampler;
4. the slow client then reads: the whole stream (still open: not cut off) or an end of stream before
   the last event (cut off); if cut off it reconnects with Last-Event-ID = its last id and must get
   the rest from the log, contiguous, without duplicates.

Backends: sqlite (default: the embedded SQLite + in-memory layer; the server hears of another
process's writes through the hub's 1 s log check) or pg-redis (a fresh PostgreSQL database, created
and dropped here, and channels_redis on a claimed empty Redis DB number, or --redis-url's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.slow_client_report import report
from benchmarks.slow_client_sockets import (
    ConnectionWatcher,
    open_slow_socket,
    read_after_reconnect,
    read_slow,
    socket_queues,
)
from benchmarks.support import BASE_DIR
from benchmarks.support.machine import describe
from benchmarks.support.memory import RssSampler, rss_kib, vm_status_kib
from benchmarks.support.servers import Command, ServerProcess, daphne_command, uvicorn_command
from benchmarks.support.services import fresh_database, private_redis_db
from benchmarks.support.sites import SITE_COMMANDS, Site
from benchmarks.support.sse_client import SSEClient, sequence_problems

# --servers names: the command line serving the site on a port.
SERVERS: dict[str, Command] = {
    "daphne": daphne_command,  # flightboard.asgi: wrapped in liveevents' StreamBackpressure
    "daphne-unwrapped": functools.partial(daphne_command, app="benchmarks.unwrapped_asgi:application"),
    "uvicorn": uvicorn_command,  # its send() waits for the transport
}
VERSIONS = (
    "Django",
    "channels",
    "channels-redis",
    "daphne",
    "Twisted",
    "uvicorn",
    "h11",
    "httptools",
    "uvloop",
)


def check_sequence(ids: list[int], first: int, last: int) -> str:
    """'ok' if `ids` is exactly first..last, else what is wrong."""
    return sequence_problems(ids, range(first, last + 1)) or "ok"


async def run_server(
    server_name: str, args: argparse.Namespace, work: Path, settings: dict[str, str]
) -> dict[str, object]:
    site = Site(work / "var", settings)
    site.prepare()
    server = ServerProcess(server_name, SERVERS[server_name], site.env(), work / f"{server_name}.log")
    server.start()
    result: dict[str, object] = {"server": server_name, "marks": []}
    normal = SSEClient("normal")
    slow: socket.socket | None = None
    publisher: subprocess.Popen[str] | None = None
    try:
        await asyncio.wait_for(normal.connect(server.port), 30)
        normal.follow(lambda: server.port)
        slow = await open_slow_socket(server.port, args.rcvbuf)
        slow_port = slow.getsockname()[1]
        result["rcvbuf"] = slow.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        await asyncio.sleep(1.0)
        result["rss_before"] = rss_kib(server.pid)

        publisher_log = (work / "publisher.log").open("w")
        publisher = subprocess.Popen(
            [sys.executable, "-m", SITE_COMMANDS, "save", "--all", "--count", str(args.events),
             "--per-transaction", str(args.batch), "--in-event-loop", "--wait"],
            cwd=BASE_DIR, env=site.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            stderr=publisher_log,
        )  # fmt: skip
        assert publisher.stdin is not None and publisher.stdout is not None
        line = await asyncio.to_thread(publisher.stdout.readline)
        if not line.startswith("ready "):
            raise RuntimeError(f"publisher failed: {line!r}")
        base = int(line.split()[1])
        final = base + args.events
        result["base"], result["final"] = base, final

        t0 = time.monotonic()
        with RssSampler(server.pid) as sampler, ConnectionWatcher(server.port, slow_port, t0) as watcher:
            publisher.stdin.write("go\n")
            publisher.stdin.flush()
            next_mark = 10_000
            while True:
                line = await asyncio.to_thread(publisher.stdout.readline)
                if not line:
                    raise RuntimeError("publisher ended early")
                words = line.split()
                if words[0] == "committed":
                    published = int(words[2]) - base
                    while published >= next_mark:
                        result["marks"].append(  # type: ignore[union-attr]
                            (next_mark, rss_kib(server.pid), normal.last_id, time.monotonic() - t0)
                        )
                        next_mark += 10_000
                elif words[0] == "done":
                    if int(words[1]) != final:
                        raise RuntimeError(f"head {words[1]} after publishing, expected {final}")
                    result["publish_seconds"] = float(words[2])
                    break
            publisher.wait(timeout=30)
            publisher_log.close()
            log_text = (work / "publisher.log").read_text(errors="replace")
            result["over_capacity"] = log_text.count("over capacity")
            result["publisher_tracebacks"] = log_text.count("Traceback")
            deadline = time.monotonic() + args.deliver_timeout
            while time.monotonic() < deadline and (normal.last_id or 0) < final:
                await asyncio.sleep(0.05)
            result["deliver_seconds"] = time.monotonic() - t0
            await asyncio.sleep(2.0)
            result["rss_after"] = rss_kib(server.pid)
            result["slow_queues_before_read"] = socket_queues(server.port, slow_port)
            # The slow client reads at last.
            slow_read = await read_slow(slow, final)
            await asyncio.sleep(1.0)
            result["slow_queues_after_read"] = socket_queues(server.port, slow_port)
            result["rss_after_slow_read"] = rss_kib(server.pid)
            result["rss_peak_sampled"] = sampler.peak
        result["slow_changes"] = watcher.changes
        result["max_server_send_q"] = watcher.max_server_send_q
        result["slow_port"] = slow_port
        result["rss_hwm"] = vm_status_kib(server.pid, "VmHWM")
        result["slow_read"] = slow_read
        slow_ids: list[int] = slow_read["ids"]  # type: ignore[assignment]
        slow_last = slow_ids[-1] if slow_ids else base
        result["slow_sequence"] = check_sequence(slow_ids, base + 1, slow_last)
        result["cut_off"] = bool(slow_read["ended"]) and slow_last < final
        closed_at = next(
            (at for at, state in watcher.changes if "client ESTAB" not in state), None
        )  # the connection left ESTABLISHED while the client was not reading
        if not result["cut_off"]:
            result["cut_off_how"] = "no"
        elif closed_at is not None:
            how = "clean end" if slow_read["complete_response"] else "reset"
            result["cut_off_how"] = f"yes, t={closed_at:.0f}s, {how}"
        else:
            result["cut_off_how"] = "yes, on read, " + (
                "clean end" if slow_read["complete_response"] else "reset"
            )
        if slow_last < final:
            again = await read_after_reconnect(server.port, slow_last, final)
            result["reconnect"] = again
            result["reconnect_sequence"] = check_sequence(again["ids"], slow_last + 1, final)  # type: ignore[arg-type]
        normal_ids = [i for i in normal.ids if i > base]
        result["normal_received"] = len(normal_ids)
        result["normal_sequence"] = check_sequence(normal_ids, base + 1, final)
        result["normal_reconnects"] = len(normal.connections) - 1
        result["normal_resets"] = len(normal.events_named("streamReset"))
        result["normal_errors"] = normal.errors[:3]
        return result
    finally:
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
            publisher.wait()
        await normal.stop()
        if slow is not None:
            slow.close()
        server.stop()
        log = server.log_text()
        result["log_tracebacks"] = log.count("Traceback")
        lines = log.splitlines()
        first = next((i for i, line in enumerate(lines) if "Traceback" in line), None)
        # The first traceback with the lines logged just before it (its message).
        result["log_tail"] = "\n".join(lines[max(0, first - 2) : first + 40]) if first is not None else ""
        port = result.get("slow_port")
        result["log_slow"] = [line for line in log.splitlines() if port and f":{port}" in line][:5]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.slow_client",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500, help="saves per transaction")
    parser.add_argument(
        "--servers",
        default="daphne,daphne-unwrapped,uvicorn",
        help="daphne (flightboard.asgi, with StreamBackpressure), daphne-unwrapped (Django's bare "
        "ASGI handler), uvicorn",
    )
    parser.add_argument(
        "--rcvbuf", type=int, default=4096, help="slow client's SO_RCVBUF, set before connect"
    )
    parser.add_argument("--backend", choices=["sqlite", "pg-redis"], default="sqlite")
    parser.add_argument(
        "--redis-url", help="pg-redis: an empty DB number of yours (default: one claimed among 1..15)"
    )
    parser.add_argument("--deliver-timeout", type=float, default=180.0)
    args = parser.parse_args()
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not servers or set(servers) - set(SERVERS):
        parser.error(f"--servers: choose among {', '.join(SERVERS)}")
    if not 1 <= args.events <= 1_000_000 or not 1 <= args.batch <= 10_000:
        parser.error("events in 1..1000000, batch in 1..10000")
    if args.redis_url and (args.redis_url.rstrip("/").endswith(":6379") or args.redis_url.endswith("/0")):
        parser.error("use a private Redis DB number (not 0)")

    for line in describe(VERSIONS):
        print(line)
    print(f"backend: {args.backend}; events {args.events} in transactions of {args.batch}")

    results = []
    for server in servers:
        with contextlib.ExitStack() as stack:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"slow-client-{server}-")))
            settings: dict[str, str] = {}
            if args.backend == "pg-redis":
                settings["DATABASE_URL"] = stack.enter_context(fresh_database("bench_slow_client"))
                settings["REDIS_URL"] = stack.enter_context(private_redis_db(args.redis_url))
            print(f"\n{server}: running...", flush=True)
            started = time.monotonic()
            results.append(asyncio.run(run_server(server, args, work, settings)))
            print(f"{server}: done in {time.monotonic() - started:.0f} s", flush=True)
    report(results, args.events)


if __name__ == "__main__":
    main()
