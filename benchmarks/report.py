"""BENCHMARKS.md from benchmarks.run's results: tables (median and min-max of the repeats),
ratios between peers, and matplotlib charts (PNG) linked from the report.

    .venv/bin/python -m benchmarks.report results.json [--output BENCHMARKS.md] [--charts-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from benchmarks.report_charts import charts
from benchmarks.report_tables import (
    cell,
    connect_errors,
    connect_rate,
    latency,
    lookup,
    memory,
    missing,
    peers_in,
    per_n_table,
    ratio_rows,
    storm_errors,
    storm_seconds,
    table,
    target_rows,
    throughput_values,
    values_at,
)


def write_report(
    results: dict[str, Any],
    output: Path,
    charts_dir: Path,
    json_path: Path | None = None,
    reading: str | None = None,
) -> None:
    """`reading`: Markdown written by a person about this run, placed after the targets."""
    meta = results["meta"]
    config = meta["config"]
    connections: list[int] = config["connections"]
    made = charts(results, connections, charts_dir)

    def link(name: str) -> str:
        path = made.get(name)
        if path is None:
            return ""
        return f"![{name}]({os.path.relpath(path, output.parent)})"

    m = meta["machine"]
    out: list[str] = []
    out.append("# Benchmarks: liveevents, django-eventstream and Nchan\n")
    out.append(
        f"Run {meta['started']} with `{meta['command']}` in {meta['seconds'] / 60:.1f} min"
        f"{' (quick: small numbers, not for conclusions)' if config.get('quick') else ''}. "
        f"Repeats: {config['repeat']}; each cell is the median, with (min–max) over the repeats "
        "when there are several. The machine is shared and noisy: compare rows, and read the ratios.\n"
    )
    out.append(
        f"Machine: {m.get('cores')} cores ({m.get('cpu', '?')}), {m.get('memory_gib', '?')} GiB memory, "
        f"Linux {m.get('kernel', '?')}; load average at start {m.get('load_average')}, at end "
        f"{meta.get('load_average_end')}. Servers, load generator and publisher share these cores.\n"
    )
    out.append("Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".\n")
    out.append(
        "Reproduce: `make benchmark` sets up what it needs (the virtualenv with "
        "benchmarks/requirements.txt: django-eventstream, uvicorn, granian; Nchan from Debian, "
        "Chromium, Redis and PostgreSQL on 127.0.0.1) and runs the default set; then run the "
        "command above (`--quick` for a short run; `--output` to keep this file). Raw results: "
        + (f"`{os.path.relpath(json_path, output.parent)}`." if json_path else "the JSON beside the charts.")
        + "\n"
    )

    out.append("## Targets\n")
    out.append(
        "Memory and latency are checked on the medians of the repeats, storms and losses on every "
        "run; ratios below 1 mean liveevents costs less. "
        "Each liveevents peer is held against django-eventstream in the same setting (single "
        "process, or Redis on two processes) and against Nchan.\n"
    )
    out.append(table(["target", "N", "peer", "liveevents", "vs django-eventstream", "vs Nchan", ""],
                     target_rows(results, connections)))  # fmt: skip
    out.append("")
    if reading:
        out.append(reading.strip() + "\n")

    out.append("## Peers\n")
    rows = []
    for name, entry in results["peers"].items():
        info = entry["info"]
        status = f"skipped: {entry['unavailable']}" if entry.get("unavailable") else ""
        errors = [run.get("error") for run in entry.get("runs", []) if run.get("error")]
        if errors:
            status = f"failed: {errors[0]}"
        rows.append(
            [f"`{name}`", info["system"], info["server"], info["store"], info["publish_path"], status]
        )
    out.append(table(["peer", "system", "server", "store / fan-out", "publish (time zero)", "status"], rows))
    out.append(
        "\nAll servers listen on 127.0.0.1. Streams: `GET /events/flights/` (the same event, "
        "`flightStateUpdate` with the Flight row as JSON). liveevents runs flightboard's own "
        "`flightboard.asgi:application` (benchmarks/liveevents_asgi.py only adds the benchmark's "
        "save endpoint beside it): the public stream is served by `liveevents.asgi.StreamRouter` "
        "(no Django middleware), and flightboard raises Python's garbage-collection thresholds "
        '(see flightboard/asgi.py); `LIVEEVENTS_CONFIG={"MAX_CONNECTIONS": 100000}`. django-eventstream '
        "runs as its documentation sets it up (its view behind Django's middleware), with Python's "
        "default garbage collection. daphne listens with a backlog of 4,096 for liveevents "
        "(`-e tcp:port=...:backlog=4096`; its default of 50 makes reconnect storms wait for SYN "
        "retransmits) and with its default of 50 for django-eventstream, which needs the kernel to "
        "meter a storm (with 4,096, a trial storm of 1,000 timed out entirely); uvicorn runs with "
        "`--http httptools --loop uvloop` "
        "(what `uvicorn[standard]` installs; backlog 2,048); granian with `--backpressure 30000` "
        "(its default admits 1,024 requests at once; backlog 1,024); nginx's backlog is 511. The "
        "load generator is one asyncio process of raw sockets "
        "(benchmarks/loadgen.py); it behaves like EventSource and reconnects with Last-Event-ID when "
        "a stream ends. Receive times are taken when the bytes are read, on the same clock as the "
        "publish stamp.\n"
    )

    out.append("## 1. Memory per idle stream\n")
    out.append(
        "(server RSS with N open streams − RSS with none) / N, KiB; VmRSS from /proc summed over "
        "the server's processes (both processes for the Redis peers, master and worker for nginx), "
        "each N on a freshly started and warmed-up server.\n"
    )
    out.append(per_n_table(results, connections, memory, 1))
    out.append("\n" + link("memory") + "\n")

    out.append("## 2. Broadcast latency\n")
    out.append(
        f"{config['broadcasts']} broadcasts, ~{config['broadcast_interval']} s apart (±50 %), to N "
        "idle streams. Time zero: the commit of the model save (its first on_commit callback) for "
        "the Python peers, the moment the POST is sent for Nchan. Percentiles over every "
        "(client, broadcast) receipt, ms. The load generator's own work inflates these at large N.\n"
    )
    for label, q in (("p50", "p50"), ("p99", "p99"), ("max", "max")):
        out.append(f"**{label}** (ms)\n")
        out.append(per_n_table(results, connections, latency(q)))
        out.append("")
    out.append(
        "Events not received (all N clients × broadcasts), and how many clients saw contiguous ids "
        "without duplicates (peers with integer ids):\n"
    )
    rows = []
    for peer in peers_in(results):
        row = [f"`{peer}`"]
        for n in connections:
            lost = values_at(results, peer, n, missing)
            contiguous = values_at(results, peer, n, lambda m: lookup(m, "latency", "clients_contiguous"))
            duplicated = values_at(results, peer, n, lambda m: lookup(m, "latency", "duplicates"))
            text = cell(lost) if lost else "—"
            if duplicated and max(duplicated):
                text += f"; duplicates: {cell(duplicated)}"
            if contiguous:
                text += f"; contiguous ids: {int(min(contiguous)):,}/{n:,} clients"
            row.append(text)
        rows.append(row)
    out.append(table(["peer"] + [f"N = {n:,}" for n in connections], rows))
    out.append("\n" + link("latency_p50") + "\n\n" + link("latency_p99") + "\n")

    out.append("## 3. Sustained throughput\n")
    out.append(
        f"{config['throughput_connections']:,} streams; events published in steps of "
        f"{config['step_seconds']} s at {', '.join(str(r) for r in config['rates'])} events/s, until "
        f"p99 passes {config['p99_limit_ms']:.0f} ms or the publisher cannot keep the rate (saves "
        "are serial: one writer). Lost: events some client never received (after up to a minute "
        "to catch up), summed over clients and steps.\n"
    )
    out.extend(throughput_table(results))
    out.append("\n" + link("throughput") + "\n")

    out.append("## 4. Connection rate and reconnect storm\n")
    out.append(
        f"New streams accepted per second while opening N (at most {config['connect_concurrency']} "
        "connecting at a time; a stream counts once its first body bytes arrive):\n"
    )
    out.append(per_n_table(results, connections, connect_rate))
    out.append("\nConnection errors while opening (refused, reset, timeouts, non-200; each retried):\n")
    out.append(per_n_table(results, connections, connect_errors))
    out.append(
        f"\nReconnect storm: the N clients disconnect, {config['storm_behind']} events are published, "
        "then all N reconnect at once with Last-Event-ID 50 events behind; seconds until every client "
        "has all 50:\n"
    )
    out.append(per_n_table(results, connections, storm_seconds, 1, " s"))
    out.append("\nErrors during the storm:\n")
    out.append(per_n_table(results, connections, storm_errors))
    out.append("\n" + link("connect_rate") + "\n\n" + link("storm") + "\n")

    out.append("## 5. Save to browser (Chromium)\n")
    browser = results.get("browser")
    if not browser:
        out.append("Not run (`--no-browser`).\n")
    elif browser.get("error"):
        out.append(f"Failed: {browser['error']}\n")
    else:
        out.append(
            f"benchmarks/save_to_browser.py, {browser['saves']} saves per path: liveevents under daphne "
            "(SQLite + in-memory layer), one headless Chromium with the board open; the page records "
            "Date.now() in its EventSource handler. `admin`: admin change-form POSTs (saved inside "
            "daphne); `process`: ORM saves in another process (heard through the hub's 1 s log check).\n"
        )
        rows = [
            [r["path"], r["label"], str(int(r["n"])), f"{r['p50']:.1f}", f"{r['p99']:.1f}", f"{r['max']:.1f}"]
            for r in browser["rows"]
        ]
        out.append(table(["path", "measured", "n", "p50 ms", "p99 ms", "max ms"], rows))
        out.append("")

    out.append("## Ratios\n")
    out.append(
        "Medians, first peer ÷ second, at the largest N both reached. Memory, latency and storm "
        "time: below 1 means the first costs less. Connects/s and events/s: above 1 means the "
        "first does more.\n"
    )
    ratio = ratio_rows(results, connections)
    out.append(table(ratio[0], ratio[1:]))
    out.append("")

    out.append("## Notes\n")
    out.append(
        "- Publishing differs by peer, as deployments do. Single-process Python peers save inside the "
        "server (the admin path): liveevents' in-memory layer, and django-eventstream without Redis, "
        "only hear of writes made in their own process (liveevents also hears other processes' writes "
        "through its 1 s log check; django-eventstream skips them). Those saves share the server's "
        "GIL with the fan-out, so their events/s is the rate the server can both save and deliver. "
        "The Redis peers save in a separate process; Nchan gets HTTP POSTs from one.\n"
        "- django-eventstream's events go out on commit (`transaction.on_commit(send_event)`), as a "
        "careful user would write it; its own API sends at call time, inside the transaction.\n"
        "- `eventstream-redis` keeps its DjangoModelStorage in SQLite shared by both processes: on "
        "PostgreSQL every open stream holds a database connection (the sync view's request thread "
        "keeps it until the response ends), so it stops at `max_connections` (100 by default). "
        "`--peers eventstream-redis-pg` runs that variant.\n"
        "- Memory is the server's resident set only (Redis, PostgreSQL and the kernel's socket "
        "buffers are not counted); with `--quick` one server serves every N, so the later N's "
        "baseline includes memory the earlier N left behind.\n"
        "- The load generator is Python: at large N, part of every latency is its own parsing time "
        "(it reads each socket in turn), the same for every peer.\n"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(out) + "\n")


def throughput_table(results: dict[str, Any]) -> list[str]:
    """Section 3's table: each peer's best rate within the p99 limit, losses, and every step of
    its first run with the servers' CPU per connection and event."""
    rows = []
    for peer in peers_in(results):
        runs = lookup(results, "peers", peer, "runs") or []
        steps_text = []
        for run in runs[:1]:
            for s in lookup(run, "throughput", "steps") or []:
                text = f"{s['achieved']:.0f}/s→p99 {s['p99_ms'] or 0:.0f}"
                if s.get("server_ns_per_delivery") is not None:
                    text += f" ({s['server_ns_per_delivery'] / 1000:.1f} µs)"
                steps_text.append(text)
        errors = [lookup(run, "throughput", "error") for run in runs if lookup(run, "throughput", "error")]
        rows.append([
            f"`{peer}`",
            cell(throughput_values(results, peer, "max_rate")),
            cell(throughput_values(results, peer, "lost")),
            cell([
                float(sum(s.get("duplicates", 0) for s in lookup(run, "throughput", "steps") or []))
                for run in runs if lookup(run, "throughput", "steps")
            ]),
            (", ".join(steps_text) or "—") + (f" ({errors[0]})" if errors else ""),
        ])  # fmt: skip
    headers = [
        "peer",
        "max events/s with p99 ≤ limit",
        "lost",
        "duplicates",
        "steps (first run): achieved → p99 ms (server CPU per connection and event)",
    ]
    return [table(headers, rows)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", help="results.json written by run.py")
    parser.add_argument("--output", default="BENCHMARKS.md")
    parser.add_argument("--charts-dir", default="benchmarks/results")
    parser.add_argument("--reading", help="a Markdown file: what a person reads in these figures")
    args = parser.parse_args()
    results = json.loads(Path(args.results).read_text())
    reading = Path(args.reading).read_text() if args.reading else None
    write_report(
        results,
        Path(args.output).resolve(),
        Path(args.charts_dir).resolve(),
        Path(args.results).resolve(),
        reading,
    )


if __name__ == "__main__":
    main()
