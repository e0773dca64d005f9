"""A client that reads nothing while events flow: is it cut off, and what does the server hold for it?

    .venv/bin/python benchmarks/slow_client.py [--events 50000] [--batch 500]
        [--servers daphne,daphne-unwrapped,uvicorn] [--rcvbuf 4096] [--backend sqlite|pg-redis]
        [--redis-url redis://127.0.0.1:6379/9]

For each server, on a fresh temp site: daphne serving flightboard.asgi (Django wrapped in
liveevents.asgi.StreamBackpressure), daphne serving benchmarks/unwrapped_asgi.py (Django's bare ASGI
handler: daphne's send() never waits), and `python -m uvicorn flightboard.asgi:application` (its
send() waits for the transport; install it in the venv: pip install 'uvicorn>=0.30,<1'):

1. one normal client (asyncio, reads everything; if the server ends its stream it reconnects with
   Last-Event-ID, counted) and one slow client: a raw socket with SO_RCVBUF set before connect,
   which sends the GET and then reads nothing (it waits for the `retry:` line with MSG_PEEK, which
   leaves the bytes in the kernel buffer);
2. a separate process saves Flight rows (the real binding -> publish path), --batch saves per
   transaction, --events in all, as fast as it can;
3. the server's VmRSS is read before, at every 10,000 events published, after the normal client has
   everything, and after the slow client has read; the peak is VmHWM (the kernel's high-water mark)
   and a 0.2 s sampler;
4. the slow client then reads: the whole stream (still open: not cut off) or an end of stream before
   the last event (cut off); if cut off it reconnects with Last-Event-ID = its last id and must get
   the rest from the log, contiguous, without duplicates.

Backends: sqlite (default: the embedded SQLite + in-memory layer; the server hears of another
process's writes through the hub's 1 s log check) or pg-redis (a fresh PostgreSQL database, created
and dropped here, and channels_redis on a private Redis DB number).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

from daphne_site import BASE_DIR, DEFAULT_APP, Site, rss_kib
from redis_commands import delete_layer_keys, fresh_database, machine_info, require_empty_db
from sse_wire import Event, ResponseParser, request

STREAM_PATH = "/events/flights/"
# --servers names: (server, ASGI application).
SERVERS = {
    "daphne": ("daphne", DEFAULT_APP),  # flightboard.asgi: wrapped in liveevents' StreamBackpressure
    "daphne-unwrapped": ("daphne", "benchmarks.unwrapped_asgi:application"),  # Django's bare handler
    "uvicorn": ("uvicorn", DEFAULT_APP),
}
MIB = 1024

# The publishing process. Its saves run in one sync_to_async thread under one event loop, so that
# publish()'s async_to_sync(group_send) reuses that loop and its channel-layer connection (from a
# plain sync process every event would open a new Redis connection).
PUBLISHER = r"""
import asyncio, sys, time
import django
django.setup()
from asgiref.sync import sync_to_async
from django.db import transaction
from flightboard.models import Flight
from liveevents.models import Stream

count, batch = int(sys.argv[1]), int(sys.argv[2])
STATES = ["landing", "landed", "delayed", ""]


def publish_all():
    flights = list(Flight.objects.order_by("flight"))
    base = Stream.objects.filter(name="flights").values_list("last_id", flat=True).first() or 0
    print("ready", base, flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    done = 0
    while done < count:
        n = min(batch, count - done)
        with transaction.atomic():
            for i in range(done, done + n):
                flight = flights[i % len(flights)]
                flight.state = STATES[(i // len(flights)) % len(STATES)]
                flight.save()
        done += n
        print("published", done, f"{time.monotonic() - started:.3f}", flush=True)
    last = Stream.objects.get(name="flights").last_id
    print("done", last, f"{time.monotonic() - started:.3f}", flush=True)


async def main():
    await sync_to_async(publish_all)()


asyncio.run(main())
"""


def vm_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


class Poller:
    """Calls `poll()` every `interval` seconds in a thread, between `with` entry and exit (at most
    15 minutes)."""

    interval = 1.0

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        deadline = time.monotonic() + 900
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            self.poll()
            self.stop_event.wait(self.interval)

    def poll(self) -> None:
        raise NotImplementedError


class RssSampler(Poller):
    """Samples a process's VmRSS every `interval` seconds; keeps the maximum."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__()
        self.pid = pid
        self.interval = interval
        self.peak = 0

    def poll(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self.peak = max(self.peak, rss_kib(self.pid))


class NormalClient:
    """Reads everything; reconnects with Last-Event-ID when the server ends its stream."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ids: list[int] = []
        self.resets = 0
        self.reconnects = 0
        self.subscribed = asyncio.Event()
        self.stopping = False
        self.errors: list[str] = []

    @property
    def last_id(self) -> int | None:
        return self.ids[-1] if self.ids else None

    async def run(self) -> None:
        last: int | None = None
        for attempt in range(100):
            if self.stopping:
                return
            if attempt:
                self.reconnects += 1
                await asyncio.sleep(0.1)
            writer = None
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(request(self.port, STREAM_PATH, last))
                response = ResponseParser()
                while not response.complete:
                    chunk = await reader.read(65536)
                    if not chunk:
                        break
                    for event in response.feed(chunk):
                        self.record(event)
                    if response.sse.retries:
                        self.subscribed.set()
                    if response.status not in (None, 200):
                        self.errors.append(f"HTTP {response.status}")
                        break
                last = self.last_id if self.last_id is not None else last
            except OSError as error:
                self.errors.append(repr(error))
            finally:
                if writer is not None:
                    writer.close()

    def record(self, event: Event) -> None:
        if event.event == "streamReset":
            self.resets += 1
        if event.id is not None and event.event != "streamReset":
            self.ids.append(event.id)


def check_sequence(ids: list[int], first: int, last: int) -> str:
    """'ok' if `ids` is exactly first..last, else a description of what is wrong."""
    if ids == list(range(first, last + 1)):
        return "ok"
    dups = len(ids) - len(set(ids))
    missing = len(set(range(first, last + 1)) - set(ids))
    return f"{len(ids)} ids, {dups} duplicates, {missing} missing of {first}..{last}"


def socket_queues(port: int, client_port: int) -> str:
    """Kernel queues of the slow connection (ss): client Recv-Q and server Send-Q, in bytes."""
    both_ways = (
        f"( sport = :{client_port} and dport = :{port} ) or ( sport = :{port} and dport = :{client_port} )"
    )
    result = subprocess.run(["ss", "-tnH", "state", "all", both_ways], capture_output=True, text=True)
    parts = []
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        state, recv_q, send_q, local = fields[0], fields[1], fields[2], fields[3]
        side = "client" if local.endswith(f":{client_port}") else "server"
        parts.append(f"{side} {state} Recv-Q {recv_q} Send-Q {send_q}")
    return "; ".join(parts) or "(no socket)"


class ConnectionWatcher(Poller):
    """Polls the slow connection's kernel state (ss) every second; records each change with its time."""

    def __init__(self, server_port: int, client_port: int, t0: float) -> None:
        super().__init__()
        self.server_port = server_port
        self.client_port = client_port
        self.t0 = t0
        self.changes: list[tuple[float, str]] = []
        self.max_server_send_q = 0
        self._last: str | None = None

    def poll(self) -> None:
        state = socket_queues(self.server_port, self.client_port)
        for part in state.split("; "):
            if part.startswith("server"):
                with contextlib.suppress(ValueError, IndexError):
                    self.max_server_send_q = max(self.max_server_send_q, int(part.split()[-1]))
        summary = " / ".join(p.split(" Recv-Q")[0] for p in state.split("; "))
        if summary != self._last:
            self.changes.append((time.monotonic() - self.t0, state))
            self._last = summary


async def open_slow_socket(port: int, rcvbuf: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: fixes the window
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(request(port, STREAM_PATH))
    sock.setblocking(False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            peeked = sock.recv(65536, socket.MSG_PEEK)
        except BlockingIOError:
            peeked = b""
        if b"retry:" in peeked:
            return sock
        if peeked and not peeked.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"slow client got {peeked[:80]!r}")
        await asyncio.sleep(0.05)
    raise RuntimeError("slow client: no retry line within 30 s")


async def read_slow(sock: socket.socket, final: int, idle: float = 15.0) -> dict[str, object]:
    """The slow client reads at last: until the final id, the end of its response, or `idle` s."""
    loop = asyncio.get_running_loop()
    response = ResponseParser()
    ids: list[int] = []
    resets = 0
    eof = False
    started = time.monotonic()
    while not response.complete and (not ids or ids[-1] < final):
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 262144), idle)
        except TimeoutError:
            break
        except OSError:
            eof = True
            break
        if not chunk:
            eof = True
            break
        for event in response.feed(chunk):
            if event.event == "streamReset":
                resets += 1
            elif event.id is not None:
                ids.append(event.id)
    return {
        "ids": ids,
        "ended": response.complete or eof,
        "complete_response": response.complete,
        "eof": eof,
        "resets": resets,
        "bytes": response.body_bytes,
        "seconds": time.monotonic() - started,
    }


async def read_after_reconnect(
    port: int, last_id: int, final: int, timeout: float = 120
) -> dict[str, object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request(port, STREAM_PATH, last_id))
    response = ResponseParser()
    ids: list[int] = []
    resets = 0
    started = time.monotonic()
    try:
        while not response.complete and (not ids or ids[-1] < final):
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                break
            try:
                chunk = await asyncio.wait_for(reader.read(262144), remaining)
            except TimeoutError:
                break
            if not chunk:
                break
            for event in response.feed(chunk):
                if event.event == "streamReset":
                    resets += 1
                elif event.id is not None:
                    ids.append(event.id)
    finally:
        writer.close()
    return {"ids": ids, "resets": resets, "seconds": time.monotonic() - started, "status": response.status}


async def run_server(
    server: str, args: argparse.Namespace, work: Path, env: dict[str, str]
) -> dict[str, object]:
    program, app = SERVERS[server]
    site = Site(work / "var", env=env, server=program, app=app, log_name=f"{server}.log")
    site.prepare()
    site.start()
    result: dict[str, object] = {"server": server, "marks": []}
    normal = NormalClient(site.port)
    normal_task = asyncio.create_task(normal.run())
    slow: socket.socket | None = None
    publisher: subprocess.Popen[str] | None = None
    try:
        await asyncio.wait_for(normal.subscribed.wait(), 30)
        slow = await open_slow_socket(site.port, args.rcvbuf)
        slow_port = slow.getsockname()[1]
        result["rcvbuf"] = slow.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        await asyncio.sleep(1.0)
        result["rss_before"] = site.rss_kib()

        publisher_log = (work / "publisher.log").open("w")
        publisher = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(args.events), str(args.batch)],
            cwd=BASE_DIR, env=site.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
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
        with RssSampler(site.pid) as sampler, ConnectionWatcher(site.port, slow_port, t0) as watcher:
            publisher.stdin.write("go\n")
            publisher.stdin.flush()
            next_mark = 10_000
            while True:
                line = await asyncio.to_thread(publisher.stdout.readline)
                if not line:
                    raise RuntimeError("publisher ended early")
                words = line.split()
                if words[0] == "published":
                    published = int(words[1])
                    while published >= next_mark:
                        result["marks"].append(  # type: ignore[union-attr]
                            (next_mark, site.rss_kib(), normal.last_id, time.monotonic() - t0)
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
            result["rss_after"] = site.rss_kib()
            result["slow_queues_before_read"] = socket_queues(site.port, slow_port)
            # The slow client reads at last.
            slow_read = await read_slow(slow, final)
            await asyncio.sleep(1.0)
            result["slow_queues_after_read"] = socket_queues(site.port, slow_port)
            result["rss_after_slow_read"] = site.rss_kib()
            result["rss_peak_sampled"] = sampler.peak
        result["slow_changes"] = watcher.changes
        result["max_server_send_q"] = watcher.max_server_send_q
        result["slow_port"] = slow_port
        result["rss_hwm"] = vm_status(site.pid, "VmHWM")
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
            again = await read_after_reconnect(site.port, slow_last, final)
            result["reconnect"] = again
            result["reconnect_sequence"] = check_sequence(again["ids"], slow_last + 1, final)  # type: ignore[arg-type]
        normal_ids = [i for i in normal.ids if i > base]
        result["normal_received"] = len(normal_ids)
        result["normal_sequence"] = check_sequence(normal_ids, base + 1, final)
        result["normal_reconnects"] = normal.reconnects
        result["normal_resets"] = normal.resets
        result["normal_errors"] = normal.errors[:3]
        return result
    finally:
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
            publisher.wait()
        normal.stopping = True
        normal_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await normal_task
        if slow is not None:
            slow.close()
        site.stop()
        log = site.log_path.read_text(errors="replace")
        result["log_tracebacks"] = log.count("Traceback")
        lines = log.splitlines()
        first = next((i for i, line in enumerate(lines) if "Traceback" in line), None)
        # The first traceback with the lines logged just before it (its message).
        result["log_tail"] = "\n".join(lines[max(0, first - 2) : first + 40]) if first is not None else ""
        port = result.get("slow_port")
        result["log_slow"] = [line for line in log.splitlines() if port and f":{port}" in line][:5]


def mib(kib: object) -> str:
    return f"{int(kib) / MIB:.1f}"  # type: ignore[call-overload]


def report(results: list[dict[str, object]], events: int) -> None:
    for r in results:
        print(f"\n== {r['server']} ==")
        print(f"  slow client SO_RCVBUF (kernel, after doubling): {r['rcvbuf']} bytes")
        print(f"  RSS before: {mib(r['rss_before'])} MiB")
        for mark, rss, normal_last, seconds in r["marks"]:  # type: ignore[union-attr]
            behind = (mark + r["base"]) - (normal_last or r["base"])  # type: ignore[operator]
            print(
                f"  after {mark:>6} events published (t={seconds:5.1f} s): RSS {mib(rss)} MiB, "
                f"normal client {behind} events behind the publisher"
            )
        print(
            f"  published in {r['publish_seconds']:.1f} s; "
            f"normal client had all at t={r['deliver_seconds']:.1f} s"
        )
        print(
            f"  RSS after delivery (+2 s): {mib(r['rss_after'])} MiB; "
            f"peak sampled {mib(r['rss_peak_sampled'])} MiB, VmHWM {mib(r['rss_hwm'])} MiB"
        )
        print("  slow connection, kernel state over time (ss, polled every second; t from first publish):")
        for at, state in r["slow_changes"]:  # type: ignore[union-attr]
            print(f"    t={at:6.1f} s  {state}")
        print(f"  largest server-side Send-Q seen: {r['max_server_send_q']} bytes")
        print(f"  slow connection before it read: {r['slow_queues_before_read']}")
        s = r["slow_read"]
        ids = s["ids"]  # type: ignore[index]
        how = (
            "end of response (chunked terminator)"
            if s["complete_response"]  # type: ignore[index]
            else "EOF/reset"
            if s["eof"]  # type: ignore[index]
            else "still open"
        )
        print(
            f"  slow client read {s['bytes'] / 1e6:.1f} MB in {s['seconds']:.1f} s: {len(ids)} events, "  # type: ignore[index,operator]
            f"last id {ids[-1] if ids else None} of {r['final']}, then {how}; sequence {r['slow_sequence']}"
        )
        print(f"  slow connection after it read: {r['slow_queues_after_read']}")
        print(f"  RSS after the slow client read: {mib(r['rss_after_slow_read'])} MiB")
        if "reconnect" in r:
            again = r["reconnect"]
            print(
                f"  slow client reconnected with Last-Event-ID: HTTP {again['status']}, "  # type: ignore[index]
                f"{len(again['ids'])} events in {again['seconds']:.1f} s, resets {again['resets']}; "  # type: ignore[index]
                f"rest of the stream: {r['reconnect_sequence']}"
            )
        print(
            f"  normal client: {r['normal_received']} events ({r['normal_sequence']}), "
            f"reconnects {r['normal_reconnects']}, resets {r['normal_resets']}, errors {r['normal_errors']}"
        )
        if r.get("over_capacity"):
            print(
                f"  publisher: channels_redis logged 'over capacity' {r['over_capacity']} times (wake-ups "
                "dropped by the layer; the hub catches up from the log)"
            )
        if r.get("publisher_tracebacks"):
            print(f"  publisher: {r['publisher_tracebacks']} tracebacks in its stderr")
        for line in r["log_slow"]:  # type: ignore[union-attr]
            print(f"  server log about the slow client (written when its response ended): {line}")
        if r["log_tracebacks"]:
            print(f"  server log: {r['log_tracebacks']} tracebacks; the first:\n{r['log_tail']}")

    print(f"\nSummary ({events} events)")
    print(
        f"  {'server':<16} {'RSS before':>10} {'peak':>7} {'VmHWM':>7} {'after':>7} {'after read':>10}  "
        f"{'slow client cut off':<26} {'normal got':>10} {'publish s':>9} {'all to normal s':>15}"
    )
    for r in results:
        peak = max(r["rss_peak_sampled"], r["rss_after"])  # type: ignore[type-var]
        print(
            f"  {r['server']:<16} {mib(r['rss_before']):>10} {mib(peak):>7} {mib(r['rss_hwm']):>7} "
            f"{mib(r['rss_after']):>7} {mib(r['rss_after_slow_read']):>10}  "
            f"{r['cut_off_how']:<26} {r['normal_received']:>10} "
            f"{r['publish_seconds']:>9.1f} {r['deliver_seconds']:>15.1f}"
        )
    print(
        "  (RSS in MiB: before publishing, peak of the 0.2 s sampler, VmHWM (the kernel's high-water\n"
        "   mark) at the end, once the normal client had all, after the slow client read;\n"
        "   cut off: t = seconds after the first publish at which the connection left ESTABLISHED\n"
        "   while the client read nothing; 'on read': ended only once it read)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
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
        "--redis-url", default="redis://127.0.0.1:6379/9", help="pg-redis: a private DB number"
    )
    parser.add_argument("--deliver-timeout", type=float, default=180.0)
    args = parser.parse_args()
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not servers or set(servers) - set(SERVERS):
        parser.error(f"--servers: choose among {', '.join(SERVERS)}")
    if not 1 <= args.events <= 1_000_000 or not 1 <= args.batch <= 10_000:
        parser.error("events in 1..1000000, batch in 1..10000")
    if args.backend == "pg-redis" and (
        args.redis_url.rstrip("/").endswith(":6379") or args.redis_url.endswith("/0")
    ):
        parser.error("use a private Redis DB number (not 0)")

    for line in machine_info():
        print(line)
    versions = []
    for module in ("uvicorn", "twisted", "h11", "httptools", "uvloop"):
        with contextlib.suppress(Exception):
            versions.append(f"{module} {__import__(module).__version__}")
    print(", ".join(versions))
    print(f"backend: {args.backend}; events {args.events} in transactions of {args.batch}")

    results = []
    for server in servers:
        with contextlib.ExitStack() as stack:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"slow-client-{server}-")))
            env: dict[str, str] = {}
            if args.backend == "pg-redis":
                env["DATABASE_URL"] = stack.enter_context(fresh_database())
                env["REDIS_URL"] = args.redis_url
                require_empty_db(args.redis_url)
                stack.callback(delete_layer_keys, args.redis_url)
            print(f"\n{server}: running...", flush=True)
            started = time.monotonic()
            results.append(asyncio.run(run_server(server, args, work, env)))
            print(f"{server}: done in {time.monotonic() - started:.0f} s", flush=True)
    report(results, args.events)


if __name__ == "__main__":
    main()
