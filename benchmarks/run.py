"""liveevents side by side with django-eventstream and Nchan, in one run; writes BENCHMARKS.md.

    .venv/bin/python -m benchmarks.run [--quick] [--connections 1000,5000,10000] [--repeat 3]
        [--output BENCHMARKS.md] [--peers NAME,...] [--no-browser]

Peers (benchmarks/peers/): liveevents under daphne, uvicorn and granian (SQLite + in-memory
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
events lost (benchmarks/measure.py). And save -> Chromium latency (benchmarks/save_to_browser.py).

The load generator (benchmarks/loadgen.py) and the publisher (benchmarks/publisher.py) are
separate processes. Everything listens on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.measure import Config, log, run_peer
from benchmarks.peers import DEFAULT_PEERS, Peer, all_peers
from benchmarks.support import BASE_DIR
from benchmarks.support.limits import raise_open_files
from benchmarks.support.machine import machine, versions
from benchmarks.support.processes import LineProcess


def set_up(peer: Peer, work: Path) -> str | None:
    """Set a peer up (databases, migrations); None, or why it failed."""
    try:
        peer.setup(work / peer.name)
    except Exception as error:
        return str(error)[-1000:]
    return None


BROWSER_LINE = re.compile(
    r"^\s+(?P<label>.+?)\s+n=(?P<n>\d+)\s+min=\s*(?P<min>[\d.]+)\s+p50=\s*(?P<p50>[\d.]+)\s+"
    r"p90=\s*(?P<p90>[\d.]+)\s+p99=\s*(?P<p99>[\d.]+)\s+max=\s*(?P<max>[\d.]+)\s+mean=\s*(?P<mean>[\d.]+)"
)


def run_browser(saves: int) -> dict[str, Any]:
    """benchmarks/save_to_browser.py: admin-style saves -> EventSource handler in Chromium."""
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.save_to_browser", "--saves", str(saves)],
            cwd=BASE_DIR, capture_output=True, text=True, timeout=120 + saves * 2,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": "benchmarks.save_to_browser timed out"}
    result: dict[str, Any] = {"saves": saves, "output": completed.stdout, "rows": []}
    if completed.returncode:
        # The whole end of the traceback: a browser error's message comes before its JS stack.
        result["error"] = (completed.stderr or completed.stdout).strip().splitlines()[-12:]
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
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    parser.add_argument(
        "--throughput-only",
        action="store_true",
        help="only the throughput steps (at --throughput-connections); prints their table, writes no report",
    )
    parser.add_argument("--rates", help="events per second of the throughput steps (default 10,25,...,1600)")
    parser.add_argument(
        "--step-seconds", type=float, help="seconds of publishing per throughput step (default 3)"
    )
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
    if args.rates:
        config.rates = [int(rate) for rate in args.rates.split(",") if rate.strip()]
    config.step_seconds = args.step_seconds or config.step_seconds
    if args.throughput_only:
        config.connections = []
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

    # The servers inherit it: each holds a socket per stream.
    nofile = raise_open_files(max([*config.connections, config.throughput_connections]) * 2 + 2048)[0]

    started = time.time()
    results: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
            "machine": machine(),
            "versions": versions(),
            "config": asdict(config),
            "command": " ".join(
                ["python", "-m", "benchmarks.run", *(argv if argv is not None else sys.argv[1:])]
            ),
            "nofile": nofile,
        },
        "peers": {},
    }
    log(f"machine: {results['meta']['machine']}")
    log(f"versions: {results['meta']['versions']}")
    most = max([*config.connections, config.throughput_connections])
    if nofile < most + 1024:
        log(f"warning: RLIMIT_NOFILE is {nofile}; raise it (ulimit -n) for {most} streams")

    loadgen = LineProcess([sys.executable, "-m", "benchmarks.loadgen"], "loadgen")
    try:
        with tempfile.TemporaryDirectory(prefix="liveevents-bench-") as tmp:
            for repeat in range(config.repeat):
                run_repeat(names, loadgen, config, Path(tmp) / f"r{repeat}", repeat, results)
        if not args.no_browser and not args.throughput_only:
            log(f"save -> browser: {config.browser_saves} saves per path")
            results["browser"] = run_browser(config.browser_saves)
            if "error" in results["browser"]:
                log(f"save -> browser failed: {results['browser']['error']}")
    finally:
        loadgen.close()
    results["meta"]["seconds"] = time.time() - started
    results["meta"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]

    from benchmarks.report import throughput_table, write_report

    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1))
    if args.throughput_only:
        print("\n".join(throughput_table(results)))
        return 0
    write_report(results, output, charts_dir, json_path)
    log(
        f"wrote {output} (charts in {charts_dir}, raw results {json_path}) "
        f"in {results['meta']['seconds']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
