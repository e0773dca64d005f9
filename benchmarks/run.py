"""liveevents side by side with django-eventstream and Nchan, in one run; writes BENCHMARKS.md.

    .venv/bin/python benchmarks/run.py [--quick] [--connections 1000,5000,10000] [--repeat 3]
        [--output BENCHMARKS.md] [--peers NAME,...] [--no-browser]

Peers (benchmarks/peers.py): liveevents under daphne, uvicorn and granian (SQLite + in-memory
layer), liveevents on two daphne processes with PostgreSQL + Redis, django-eventstream 5.3.4 under
daphne (DjangoModelStorage; and its Redis mode on two processes), Nchan (nginx 1 worker).

For each peer, repeat and N (each on a freshly started server; --quick: one server for every N):
  1. memory per idle stream: (server RSS with N open streams - RSS with none) / N, VmRSS summed
     over the server's processes;
  2. connection rate: N streams opened, at most --connect-concurrency connecting at a time;
  3. broadcast latency: --broadcasts saves (or Nchan POSTs), ~0.5 s apart; receive time at every
     client - commit time (time.time() on both sides, one machine clock): p50/p99/max;
  4. reconnect storm: every client disconnects, 50 events are published, then all N reconnect at
     once with Last-Event-ID 50 events behind: time until every client has all 50, errors.
Then, at --throughput-connections streams: events per second in steps until p99 passes 1 s, and
events lost. And save -> Chromium latency through benchmarks/save_to_browser.py.

The load generator (benchmarks/loadgen.py) and the publisher (benchmarks/publisher.py) are
separate processes. Everything listens on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import queue
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from daphne_site import BASE_DIR
from peers import DEFAULT_PEERS, Peer, all_peers, machine, versions

HERE = Path(__file__).resolve().parent


@dataclass
class Config:
    connections: list[int]
    repeat: int = 3
    broadcasts: int = 20
    broadcast_interval: float = 0.5
    connect_concurrency: int = 200
    connect_timeout: float = 30.0  # one connection attempt
    connect_deadline: float = 300.0  # all N streams open
    settle: float = 2.0  # idle seconds before reading RSS
    rss_samples: int = 3  # median of this many VmRSS readings, 0.2 s apart
    fresh_server_per_n: bool = True  # --quick: one server for every N
    storm_behind: int = 50
    storm_deadline: float = 300.0
    throughput_connections: int = 1000
    rates: list[int] = field(default_factory=lambda: [10, 25, 50, 100, 200, 400, 800, 1600])
    step_seconds: float = 3.0
    drain_timeout: float = 15.0
    p99_limit_ms: float = 1000.0
    browser_saves: int = 100
    quick: bool = False


class LineProcess:
    """A child process that answers one JSON line per JSON command, read with a timeout."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None, name: str = "") -> None:
        self.name = name or Path(command[1]).name
        self.process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            bufsize=1,
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self.read(120)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def read(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"{self.name}: no answer within {timeout:.0f} s") from None
        if line is None:
            raise RuntimeError(f"{self.name} exited ({self.process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.name}: {answer['error']}")
        return answer

    def ask(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.read(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class Publisher(LineProcess):
    def publish(
        self, count: int, interval: float, jitter: float = 0.0, max_seconds: float = 0.0
    ) -> list[list[Any]]:
        """Publish `count` events `interval` apart (none starts after `max_seconds`, if given)."""
        timeout = 120 + (max_seconds or count * max(interval, 0.02) * 3)
        command = {"count": count, "interval": interval, "jitter": jitter, "max_seconds": max_seconds}
        events: list[list[Any]] = self.ask(command, timeout)["events"]
        return events


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def rss_settled(peer: Peer, samples: int) -> int:
    values = []
    for _ in range(samples):
        values.append(peer.rss_kib())
        time.sleep(0.2)
    return int(statistics.median(values))


def warm_up(peer: Peer, loadgen: LineProcess, publisher: Publisher, config: Config) -> None:
    """A few streams and events first, so lazy imports and caches are not counted per stream."""
    loadgen.ask({"op": "connect", "group": "warm", "n": 20, "targets": peer.targets(), "concurrency": 20,
                 "timeout": config.connect_timeout, "deadline": 60}, 90)  # fmt: skip
    events = publisher.publish(3, 0.05)
    loadgen.ask({"op": "collect", "group": "warm", "published": events, "timeout": 10}, 30)
    loadgen.ask({"op": "close", "group": "warm"}, 60)


class Session:
    """A started, warmed-up server and its publisher process."""

    def __init__(self, peer: Peer, loadgen: LineProcess, config: Config) -> None:
        self.peer = peer
        self.loadgen = loadgen
        peer.start()
        command, env = peer.publisher_command()
        try:
            self.publisher = Publisher(command, env, name=f"publisher ({peer.name})")
            warm_up(peer, loadgen, self.publisher, config)
        except BaseException:
            peer.stop()
            raise

    def close(self) -> None:
        for group in ("idle", "storm", "tp"):
            with contextlib.suppress(Exception):
                self.loadgen.ask({"op": "close", "group": group}, 120)
        self.publisher.close()
        self.peer.stop()


def measure_connections(session: Session, n: int, config: Config) -> dict[str, Any]:
    """Memory, connection rate, broadcast latency and reconnect storm at N streams."""
    peer, loadgen, publisher = session.peer, session.loadgen, session.publisher
    result: dict[str, Any] = {"n": n}
    try:
        time.sleep(config.settle)
        rss_before = rss_settled(peer, config.rss_samples)
        targets = peer.targets()
        connect = loadgen.ask(
            {"op": "connect", "group": "idle", "n": n, "targets": targets,
             "concurrency": config.connect_concurrency, "timeout": config.connect_timeout,
             "deadline": config.connect_deadline},
            config.connect_deadline + 120,
        )  # fmt: skip
        result["connect"] = connect
        log(
            f"  {peer.name} N={n}: {connect['connected']}/{n} open in {connect['seconds']:.1f} s "
            f"({connect['rate'] or 0:.0f}/s), errors {connect['errors']}"
        )
        time.sleep(config.settle)
        rss_after = rss_settled(peer, config.rss_samples)
        opened = max(1, connect["connected"])
        result["memory"] = {
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "per_connection_kib": (rss_after - rss_before) / opened,
        }
        if connect["failed"] or not peer.alive():
            result["survived"] = False
            return result

        loadgen.ask({"op": "mark", "group": "idle"}, 60)
        events = publisher.publish(config.broadcasts, config.broadcast_interval, jitter=0.5)
        latency = loadgen.ask(
            {"op": "collect", "group": "idle", "published": events, "timeout": config.drain_timeout,
             "contiguous": peer.integer_ids},
            config.drain_timeout + 120,
        )  # fmt: skip
        result["latency"] = latency
        lat = latency["latency_ms"]
        log(
            f"  {peer.name} N={n}: broadcast p50 {lat.get('p50', float('nan')):.0f} ms "
            f"p99 {lat.get('p99', float('nan')):.0f} ms max {lat.get('max', float('nan')):.0f} ms, "
            f"missing {latency['missing']}, RSS/stream {result['memory']['per_connection_kib']:.1f} KiB"
        )

        # Reconnect storm: everyone leaves, 50 events happen, everyone comes back at once.
        last_seen = events[-1][0]
        loadgen.ask({"op": "close", "group": "idle"}, 120)
        time.sleep(config.settle)
        behind = publisher.publish(config.storm_behind, 0.0)
        storm = loadgen.ask(
            {"op": "connect", "group": "storm", "n": n, "targets": targets, "concurrency": n,
             "timeout": config.connect_timeout, "deadline": config.storm_deadline,
             "last_event_id": last_seen, "expect": [key for key, _ in behind]},
            config.storm_deadline + 120,
        )  # fmt: skip
        result["storm"] = storm
        seconds = f"{storm['all_seconds']:.1f} s" if storm["all_seconds"] is not None else "(not all)"
        log(
            f"  {peer.name} N={n}: storm: {storm['complete']}/{n} replayed in {seconds}, "
            f"errors {storm['errors']}"
        )
        result["survived"] = storm["complete"] == n and peer.alive()
        if result["survived"] and n == config.throughput_connections:
            # The storm's streams are open and caught up: the throughput steps run on them.
            result["throughput"] = throughput_steps(peer, loadgen, publisher, "storm", config)
        return result
    finally:
        for group in ("idle", "storm"):
            with contextlib.suppress(Exception):
                loadgen.ask({"op": "close", "group": group}, 120)
        result["server_alive_at_end"] = peer.alive()


def throughput_steps(
    peer: Peer, loadgen: LineProcess, publisher: Publisher, group: str, config: Config
) -> dict[str, Any]:
    """Events per second into the group's streams, in steps, until p99 passes the limit (or the
    publisher falls far behind the rate: the saving side is saturated); events lost."""
    n = config.throughput_connections
    result: dict[str, Any] = {"n": n, "steps": []}
    for rate in config.rates:
        loadgen.ask({"op": "mark", "group": group}, 60)
        # At most 2,000 events a step: the load generator keeps every (client, id) receipt.
        count = min(2000, max(10, int(rate * config.step_seconds)))
        events = publisher.publish(count, 1.0 / rate, max_seconds=config.step_seconds * 2)
        span = events[-1][1] - events[0][1]
        achieved = (len(events) - 1) / span if span > 0 else float(rate)
        collected = loadgen.ask(
            {"op": "collect", "group": group, "published": events, "timeout": config.drain_timeout,
             "contiguous": peer.integer_ids},
            config.drain_timeout + 120,
        )  # fmt: skip
        lat = collected["latency_ms"]
        over = lat.get("p99", 0) > config.p99_limit_ms or collected["clients_complete"] < n
        if collected["missing"]:
            # Late or lost? Give the stragglers a minute to catch up before counting losses.
            collected = loadgen.ask(
                {"op": "collect", "group": group, "published": events, "timeout": 60,
                 "contiguous": peer.integer_ids},
                180,
            )  # fmt: skip
        step = {
            "rate": rate,
            "achieved": achieved,
            "events": len(events),
            "p50_ms": lat.get("p50"),
            "p99_ms": lat.get("p99"),
            "max_ms": lat.get("max"),
            "missing": collected["missing"],
            "duplicates": collected["duplicates"],
            "clients_complete": collected["clients_complete"],
            "clients_contiguous": collected["clients_contiguous"],
            "reconnects": collected["reconnects"],
            "resets": collected["resets"],
            "errors": collected["errors"],
            "open": collected["open"],
            "silent_clients": collected["silent_clients"],
        }
        result["steps"].append(step)
        log(
            f"  {peer.name} throughput {rate}/s (achieved {achieved:.0f}/s): "
            f"p50 {step['p50_ms'] or 0:.0f} ms "
            f"p99 {step['p99_ms'] or 0:.0f} ms, missing {step['missing']}, reconnects {step['reconnects']}"
        )
        if over or achieved < 0.5 * rate or not peer.alive():
            break
    ok = [s for s in result["steps"] if (s["p99_ms"] or 0) <= config.p99_limit_ms and not s["missing"]]
    result["max_rate"] = max((s["achieved"] for s in ok), default=0.0)
    result["lost"] = sum(s["missing"] for s in result["steps"])
    return result


def measure_throughput(session: Session, config: Config) -> dict[str, Any]:
    """The throughput steps with --throughput-connections streams."""
    n = config.throughput_connections
    connect = session.loadgen.ask(
        {"op": "connect", "group": "tp", "n": n, "targets": session.peer.targets(),
         "concurrency": config.connect_concurrency, "timeout": config.connect_timeout,
         "deadline": config.connect_deadline},
        config.connect_deadline + 120,
    )  # fmt: skip
    if connect["failed"]:
        return {"n": n, "steps": [], "error": f"only {connect['connected']}/{n} streams opened"}
    return throughput_steps(session.peer, session.loadgen, session.publisher, "tp", config)


def run_peer(peer: Peer, loadgen: LineProcess, config: Config) -> dict[str, Any]:
    """Every N (a fresh server each, unless --quick), then the throughput steps; `peer` is set up."""
    run: dict[str, Any] = {"n": {}}
    session: Session | None = None
    try:
        for n in config.connections:
            try:
                session = session or Session(peer, loadgen, config)
                measured = measure_connections(session, n, config)
            except Exception as error:
                log(f"  {peer.name} N={n} failed: {error}")
                measured = {"n": n, "error": str(error), "survived": False, "log": peer.logs()[-2000:]}
            run["n"][str(n)] = measured
            if config.fresh_server_per_n or not measured.get("survived"):
                if session is not None:
                    session.close()
                session = None
            if not measured.get("survived"):
                log(f"  {peer.name}: did not survive N={n}; larger N skipped")
                break
        reused = run["n"].get(str(config.throughput_connections), {}).pop("throughput", None)
        try:
            if reused is None:
                session = session or Session(peer, loadgen, config)
            run["throughput"] = reused or measure_throughput(session, config)  # type: ignore[arg-type]
        except Exception as error:
            log(f"  {peer.name} throughput failed: {error}")
            run["throughput"] = {"error": str(error), "steps": [], "log": peer.logs()[-2000:]}
    finally:
        if session is not None:
            session.close()
        peer.teardown()
    return run


def set_up(peer: Peer, work: Path) -> str | None:
    """Set a peer up (databases, migrations); None, or why it failed."""
    try:
        peer.setup(work / peer.name)
    except Exception as error:
        detail = getattr(error, "stderr", None)
        return f"{error}{': ' + detail.decode(errors='replace')[-500:] if isinstance(detail, bytes) else ''}"
    return None


BROWSER_LINE = re.compile(
    r"^\s+(?P<label>.+?)\s+n=(?P<n>\d+)\s+min=\s*(?P<min>[\d.]+)\s+p50=\s*(?P<p50>[\d.]+)\s+"
    r"p90=\s*(?P<p90>[\d.]+)\s+p99=\s*(?P<p99>[\d.]+)\s+max=\s*(?P<max>[\d.]+)\s+mean=\s*(?P<mean>[\d.]+)"
)


def run_browser(saves: int) -> dict[str, Any]:
    """benchmarks/save_to_browser.py: admin-style saves -> EventSource handler in Chromium."""
    try:
        completed = subprocess.run(
            [sys.executable, str(HERE / "save_to_browser.py"), "--saves", str(saves)],
            cwd=BASE_DIR, capture_output=True, text=True, timeout=120 + saves * 2,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": "save_to_browser.py timed out"}
    result: dict[str, Any] = {"saves": saves, "output": completed.stdout, "rows": []}
    if completed.returncode:
        result["error"] = (completed.stderr or completed.stdout).strip().splitlines()[-1:]
        return result
    path = ""
    for line in completed.stdout.splitlines():
        if line.startswith("path "):
            path = line.split("'")[1] if "'" in line else line
        match = BROWSER_LINE.match(line)
        if match:
            row = {k: float(v) for k, v in match.groupdict().items() if k != "label"}
            result["rows"].append({"path": path, "label": match["label"], **row})
    return result


def run_repeat(
    names: list[str], loadgen: LineProcess, config: Config, work: Path, repeat: int, results: dict[str, Any]
) -> None:
    """One pass over the peers: all set up at once (in parallel), then measured one at a time."""
    peers = {name: all_peers()[name] for name in names}  # fresh state every repeat
    ready: dict[str, Peer] = {}
    for name, peer in peers.items():
        entry = results["peers"].setdefault(
            name,
            {"info": {"system": peer.system, "server": peer.server, "store": peer.store,
                      "publish_path": peer.publish_path, "processes": peer.processes},
             "runs": []},
        )  # fmt: skip
        reason = peer.unavailable()
        if reason:
            entry["unavailable"] = reason
            if repeat == 0:
                log(f"{name}: skipped: {reason}")
        else:
            ready[name] = peer
    log(f"repeat {repeat + 1}/{config.repeat}: setting up {', '.join(ready)}")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        failures = dict(zip(ready, pool.map(lambda peer: set_up(peer, work), ready.values()), strict=True))
    for name, peer in ready.items():
        if failures[name]:
            log(f"{name}: set-up failed: {failures[name]}")
            results["peers"][name]["runs"].append({"n": {}, "error": f"set-up failed: {failures[name]}"})
            peer.teardown()
            continue
        log(f"repeat {repeat + 1}/{config.repeat}: {name}")
        results["peers"][name]["runs"].append(run_peer(peer, loadgen, config))


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Config]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small and short: 200,500 streams, 1 repeat")
    parser.add_argument("--connections", help="comma-separated N (default 1000,5000,10000; quick 200,500)")
    parser.add_argument("--repeat", type=int, help="runs of everything (default 3; quick 1)")
    parser.add_argument("--output", default=str(BASE_DIR / "BENCHMARKS.md"), help="the Markdown report")
    parser.add_argument("--charts-dir", help="PNG charts (default benchmarks/results/ beside the report's)")
    parser.add_argument("--json", help="raw results (default <charts dir>/results.json)")
    parser.add_argument(
        "--peers",
        help=f"comma-separated, of: {', '.join(all_peers())} (default: all but eventstream-redis-pg)",
    )
    parser.add_argument("--broadcasts", type=int, help="broadcasts per N (default 20; quick 5)")
    parser.add_argument("--throughput-connections", type=int, help="streams for the throughput test")
    parser.add_argument("--connect-concurrency", type=int, default=200)
    parser.add_argument(
        "--storm-deadline",
        type=float,
        help="seconds a reconnect storm may take before it is cut (default 300)",
    )
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium save -> browser test")
    parser.add_argument("--browser-saves", type=int, help="saves per path (default 100; quick 10)")
    args = parser.parse_args(argv)
    quick = args.quick
    if args.connections:
        connections = [int(c) for c in args.connections.split(",") if c.strip()]
    else:
        connections = [200, 500] if quick else [1000, 5000, 10000]
    if not connections or min(connections) < 1 or max(connections) > 20_000:
        parser.error("--connections: between 1 and 20000")
    config = Config(connections=sorted(connections), quick=quick)
    config.repeat = args.repeat or (1 if quick else 3)
    config.connect_concurrency = args.connect_concurrency
    if quick:
        config.broadcasts = 5
        config.broadcast_interval = 0.2
        config.settle = 0.5
        config.rss_samples = 1
        config.fresh_server_per_n = False
        config.rates = [50, 200]
        config.step_seconds = 1.0
        config.drain_timeout = 8.0
        config.connect_deadline = 120.0
        config.storm_deadline = 120.0
        config.browser_saves = 10
    config.broadcasts = args.broadcasts or config.broadcasts
    config.storm_deadline = args.storm_deadline or config.storm_deadline
    config.browser_saves = args.browser_saves or config.browser_saves
    config.throughput_connections = args.throughput_connections or min(1000, max(connections))
    if not 1 <= config.repeat <= 10 or not 1 <= config.broadcasts <= 1000:
        parser.error("--repeat in 1..10, --broadcasts in 1..1000")
    return args, config


def main(argv: list[str] | None = None) -> int:
    args, config = parse_args(argv)
    output = Path(args.output).resolve()
    charts_dir = (
        Path(args.charts_dir).resolve() if args.charts_dir else output.parent / "benchmarks" / "results"
    )
    json_path = Path(args.json).resolve() if args.json else charts_dir / "results.json"
    peers = all_peers()
    names = [p.strip() for p in args.peers.split(",")] if args.peers else list(DEFAULT_PEERS)
    unknown = [n for n in names if n not in peers]
    if unknown:
        print(f"unknown peers: {unknown}; known: {list(peers)}", file=sys.stderr)
        return 2

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(config.connections) * 2 + 2048
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard) if hard > 0 else wanted, hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

    started = time.time()
    results: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
            "machine": machine(),
            "versions": versions(),
            "config": asdict(config),
            "command": " ".join(
                ["python", "benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]
            ),
            "nofile": nofile,
        },
        "peers": {},
    }
    log(f"machine: {results['meta']['machine']}")
    log(f"versions: {results['meta']['versions']}")
    if nofile < max(config.connections) + 1024:
        log(f"warning: RLIMIT_NOFILE is {nofile}; raise it (ulimit -n) for {max(config.connections)} streams")

    loadgen = LineProcess([sys.executable, str(HERE / "loadgen.py")], name="loadgen")
    try:
        with tempfile.TemporaryDirectory(prefix="liveevents-bench-") as tmp:
            for repeat in range(config.repeat):
                run_repeat(names, loadgen, config, Path(tmp) / f"r{repeat}", repeat, results)
        if not args.no_browser:
            log(f"save -> browser: {config.browser_saves} saves per path")
            results["browser"] = run_browser(config.browser_saves)
            if "error" in results["browser"]:
                log(f"save -> browser failed: {results['browser']['error']}")
    finally:
        loadgen.close()
    results["meta"]["seconds"] = time.time() - started
    results["meta"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]

    from report import write_report

    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1))
    write_report(results, output, charts_dir, json_path)
    log(
        f"wrote {output} (charts in {charts_dir}, raw results {json_path}) "
        f"in {results['meta']['seconds']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
