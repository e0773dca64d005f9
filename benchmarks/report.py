"""BENCHMARKS.md from benchmarks/run.py's results: tables (median and min-max of the repeats),
ratios between peers, and matplotlib charts (PNG) linked from the report.

    .venv/bin/python benchmarks/report.py results.json [--output BENCHMARKS.md] [--charts-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

REFERENCES = [
    # (other, liveevents peer it is compared with)
    ("eventstream-daphne", "liveevents-daphne"),
    ("eventstream-redis", "liveevents-redis"),
    ("nchan", "liveevents-daphne"),
    ("nchan", "liveevents-uvicorn"),
    ("nchan", "liveevents-granian"),
    ("liveevents-uvicorn", "liveevents-daphne"),
    ("liveevents-granian", "liveevents-daphne"),
]
COLORS = {
    "liveevents-daphne": "#1f77b4",
    "liveevents-uvicorn": "#17becf",
    "liveevents-granian": "#9467bd",
    "liveevents-redis": "#2ca02c",
    "eventstream-daphne": "#d62728",
    "eventstream-redis": "#ff7f0e",
    "nchan": "#7f7f7f",
}

Getter = Callable[[dict[str, Any]], float | None]


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def values_at(results: dict[str, Any], peer: str, n: int, getter: Getter) -> list[float]:
    out = []
    for run in _get(results, "peers", peer, "runs") or []:
        measured = _get(run, "n", str(n))
        if measured:
            value = getter(measured)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                out.append(float(value))
    return out


def throughput_values(results: dict[str, Any], peer: str, key: str) -> list[float]:
    out = []
    for run in _get(results, "peers", peer, "runs") or []:
        value = _get(run, "throughput", key)
        if value is not None:
            out.append(float(value))
    return out


def fmt_number(value: float, digits: int = 0) -> str:
    if value >= 100 or digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def cell(values: list[float], digits: int = 0, unit: str = "") -> str:
    if not values:
        return "—"
    median = statistics.median(values)
    text = fmt_number(median, digits) + unit
    if len(values) > 1:
        text += f" ({fmt_number(min(values), digits)}–{fmt_number(max(values), digits)})"
    return text


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# Metric getters on one measurement at N.
def memory(m: dict[str, Any]) -> float | None:
    return _get(m, "memory", "per_connection_kib")


def latency(q: str) -> Getter:
    return lambda m: _get(m, "latency", "latency_ms", q)


def connect_rate(m: dict[str, Any]) -> float | None:
    return _get(m, "connect", "rate")


def connect_errors(m: dict[str, Any]) -> float | None:
    errors = _get(m, "connect", "errors")
    if errors is None:
        return None
    return float(sum(v for k, v in errors.items() if k != "stream-ended"))


def storm_seconds(m: dict[str, Any]) -> float | None:
    return _get(m, "storm", "all_seconds")


def storm_errors(m: dict[str, Any]) -> float | None:
    errors = _get(m, "storm", "errors")
    return None if errors is None else float(sum(errors.values()))


def missing(m: dict[str, Any]) -> float | None:
    return _get(m, "latency", "missing")


def peers_in(results: dict[str, Any]) -> list[str]:
    return [name for name, entry in results["peers"].items() if entry.get("runs")]


def status_at(results: dict[str, Any], peer: str, n: int) -> str | None:
    """Why a peer has no figures at N: it failed there, its storm did not end, or it failed at a
    smaller N (larger ones are then skipped)."""
    deadline = results["meta"]["config"].get("storm_deadline")
    for run in _get(results, "peers", peer, "runs") or []:
        measured = _get(run, "n", str(n))
        if measured and measured.get("error"):
            return "error"
        if measured and measured.get("connect", {}).get("failed"):
            failed = measured["connect"]["failed"]
            return f"{failed} of {n} not opened"
        storm = (measured or {}).get("storm")
        if storm and storm.get("all_seconds") is None:
            return f"not all within {deadline:.0f} s ({storm.get('complete', 0):,}/{n:,} replayed)"
        if not measured and run.get("n"):
            return "not run: failed at a smaller N"
    return None


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def per_n_table(
    results: dict[str, Any], connections: list[int], getter: Getter, digits: int = 0, unit: str = ""
) -> str:
    rows = []
    for peer in peers_in(results):
        row = [f"`{peer}`"]
        for n in connections:
            values = values_at(results, peer, n, getter)
            row.append(cell(values, digits, unit) if values else (status_at(results, peer, n) or "—"))
        rows.append(row)
    return table(["peer"] + [f"N = {n:,}" for n in connections], rows)


def ratio_rows(results: dict[str, Any], connections: list[int]) -> list[list[str]]:
    metrics: list[tuple[str, Getter | str]] = [
        ("memory / stream", memory),
        ("broadcast p50", latency("p50")),
        ("broadcast p99", latency("p99")),
        ("connects / s", connect_rate),
        ("storm: all replayed", storm_seconds),
        ("max events / s", "max_rate"),
    ]
    present = set(peers_in(results))
    rows = []
    for other, reference in REFERENCES:
        if other not in present or reference not in present:
            continue
        row = [f"`{other}` ÷ `{reference}`"]
        for _, getter in metrics:
            if isinstance(getter, str):
                a = median_or_none(throughput_values(results, other, getter))
                b = median_or_none(throughput_values(results, reference, getter))
                where = ""
            else:
                a = b = None
                where = ""
                for n in reversed(connections):  # the largest N both reached
                    a = median_or_none(values_at(results, other, n, getter))
                    b = median_or_none(values_at(results, reference, n, getter))
                    if a is not None and b is not None:
                        where = f" @{n:,}"
                        break
            if a is None or b is None or b == 0:
                row.append("—")
            else:
                row.append(f"{a / b:.2f}×{where}")
        rows.append(row)
    return [["comparison"] + [name for name, _ in metrics]] + rows


# Each liveevents peer and the django-eventstream peer it is measured against.
TARGET_PAIRS = {
    "liveevents-daphne": "eventstream-daphne",
    "liveevents-uvicorn": "eventstream-daphne",
    "liveevents-granian": "eventstream-daphne",
    "liveevents-redis": "eventstream-redis",
}


def target_rows(results: dict[str, Any], connections: list[int]) -> list[list[str]]:
    """The issue's targets, checked on the medians: one row per (target, N, liveevents peer)."""
    present = set(peers_in(results))
    rows: list[list[str]] = []

    def at(peer: str, n: int, getter: Getter) -> float | None:
        return median_or_none(values_at(results, peer, n, getter))

    def verdict(ok: bool | None) -> str:
        return "—" if ok is None else ("met" if ok else "**missed**")

    def compare(label: str, n: int, getter: Getter, eventstream_factor: float, nchan_factor: float) -> None:
        for peer, rival in TARGET_PAIRS.items():
            if peer not in present:
                continue
            ours = at(peer, n, getter)
            theirs = at(rival, n, getter) if rival in present else None
            nchan = at("nchan", n, getter) if "nchan" in present else None
            if ours is None:
                rows.append([label, f"{n:,}", f"`{peer}`", "—", "—", "—", verdict(False)])
                continue
            vs_rival = ours / theirs if theirs else None
            vs_nchan = ours / nchan if nchan else None
            checks = []
            if vs_rival is not None:
                checks.append(vs_rival <= eventstream_factor)
            elif rival in present:
                checks.append(True)  # the rival did not reach this N
            if vs_nchan is not None:
                checks.append(vs_nchan <= nchan_factor)
            rows.append([
                label,
                f"{n:,}",
                f"`{peer}`",
                fmt_number(ours, 1),
                f"{vs_rival:.2f}× `{rival}`" if vs_rival is not None else f"`{rival}`: no figure",
                f"{vs_nchan:.2f}×" if vs_nchan is not None else "—",
                verdict(all(checks) if checks else None),
            ])  # fmt: skip

    for n in connections:
        compare("memory / idle stream (KiB): ≤ ¼ django-eventstream, ≤ 1.5× Nchan", n, memory, 0.25, 1.5)
    for n in [n for n in connections if n >= 5000]:
        compare("broadcast p99 (ms): ≤ ½ django-eventstream, ≤ 1.5× Nchan", n, latency("p99"), 0.5, 1.5)
    for n in [n for n in connections if n == 5000]:
        for peer in TARGET_PAIRS:
            if peer not in present:
                continue
            seconds = values_at(results, peer, n, storm_seconds)
            errors = values_at(results, peer, n, storm_errors)
            runs = len(_get(results, "peers", peer, "runs") or [])
            complete = len(seconds) == runs and runs > 0
            ok = complete and max(seconds) <= 10 and not any(errors)
            worst = (
                f"worst run {max(seconds):.1f} s" if complete else f"{runs - len(seconds)} run(s) incomplete"
            )
            rows.append([
                "reconnect storm: all replayed ≤ 10 s, no error (every run)", f"{n:,}", f"`{peer}`",
                cell(seconds, 1, " s"), worst, f"storm errors {int(sum(errors))}", verdict(ok),
            ])  # fmt: skip
    for peer in TARGET_PAIRS:
        if peer not in present:
            continue
        lost = sum(v for n in connections for v in values_at(results, peer, n, missing))
        lost += sum(throughput_values(results, peer, "lost"))
        rows.append(
            [
                "events lost, every load and run",
                "all",
                f"`{peer}`",
                f"{int(lost):,}",
                "",
                "",
                verdict(lost == 0),
            ]
        )
    return rows


def charts(results: dict[str, Any], connections: list[int], charts_dir: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    charts_dir.mkdir(parents=True, exist_ok=True)
    peers = peers_in(results)
    made: dict[str, Path] = {}

    def grouped(name: str, title: str, ylabel: str, getter: Getter, log: bool = False) -> None:
        fig, ax = plt.subplots(figsize=(9, 4.5))
        width = 0.8 / max(1, len(peers))
        for index, peer in enumerate(peers):
            xs, ys, low, high = [], [], [], []
            for position, n in enumerate(connections):
                values = values_at(results, peer, n, getter)
                if values:
                    median = statistics.median(values)
                    xs.append(position + (index - (len(peers) - 1) / 2) * width)
                    ys.append(median)
                    low.append(median - min(values))
                    high.append(max(values) - median)
            if xs:
                ax.bar(xs, ys, width, label=peer, color=COLORS.get(peer), yerr=[low, high], capsize=2)
        ax.set_xticks(range(len(connections)), [f"{n:,}" for n in connections])
        ax.set_xlabel("open streams (N)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
        fig.tight_layout()
        path = charts_dir / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made[name] = path

    grouped("memory", "Memory per idle stream (server RSS delta / N)", "KiB per stream", memory)
    grouped("latency_p50", "Broadcast latency p50 (commit -> every client)", "ms", latency("p50"), log=True)
    grouped("latency_p99", "Broadcast latency p99 (commit -> every client)", "ms", latency("p99"), log=True)
    grouped("connect_rate", "New streams accepted per second", "streams / s", connect_rate, log=True)
    grouped("storm", "Reconnect storm: all N back with a 50-event replay", "seconds", storm_seconds, log=True)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for peer in peers:
        for index, run in enumerate(_get(results, "peers", peer, "runs") or []):
            steps = _get(run, "throughput", "steps") or []
            points = [(s["achieved"], s["p99_ms"]) for s in steps if s.get("p99_ms")]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", color=COLORS.get(peer),
                        label=peer if index == 0 else None, alpha=0.8)  # fmt: skip
    limit = results["meta"]["config"].get("p99_limit_ms", 1000)
    ax.axhline(limit, color="black", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("events per second (achieved)")
    ax.set_ylabel("p99 latency, ms")
    n = results["meta"]["config"].get("throughput_connections")
    ax.set_title(f"Sustained throughput into {n:,} streams")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    path = charts_dir / "throughput.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    made["throughput"] = path
    return made


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
        "Reproduce: `make bench-install browser services` (the virtualenv, django-eventstream, "
        "uvicorn, granian, Nchan from Debian, Chromium, Redis and PostgreSQL on 127.0.0.1), then "
        "the command above (`--quick` for a short run; `--output` to keep this file). Raw results: "
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
            contiguous = values_at(results, peer, n, lambda m: _get(m, "latency", "clients_contiguous"))
            duplicated = values_at(results, peer, n, lambda m: _get(m, "latency", "duplicates"))
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
    rows = []
    for peer in peers_in(results):
        runs = _get(results, "peers", peer, "runs") or []
        steps_text = []
        for run in runs[:1]:
            for s in _get(run, "throughput", "steps") or []:
                steps_text.append(f"{s['achieved']:.0f}/s→p99 {s['p99_ms'] or 0:.0f}")
        errors = [_get(run, "throughput", "error") for run in runs if _get(run, "throughput", "error")]
        rows.append([
            f"`{peer}`",
            cell(throughput_values(results, peer, "max_rate")),
            cell(throughput_values(results, peer, "lost")),
            cell([
                float(sum(s.get("duplicates", 0) for s in _get(run, "throughput", "steps") or []))
                for run in runs if _get(run, "throughput", "steps")
            ]),
            (", ".join(steps_text) or "—") + (f" ({errors[0]})" if errors else ""),
        ])  # fmt: skip
    out.append(
        table(
            [
                "peer",
                "max events/s with p99 ≤ limit",
                "lost",
                "duplicates",
                "steps (first run): achieved → p99 ms",
            ],
            rows,
        )
    )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
