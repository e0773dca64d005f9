"""The report's charts: matplotlib PNGs of the figures, one bar group per N, and throughput curves."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.report_tables import (
    Getter,
    connect_rate,
    latency,
    lookup,
    memory,
    peers_in,
    storm_seconds,
    values_at,
)

COLORS = {
    "liveevents-daphne": "#1f77b4",
    "liveevents-uvicorn": "#17becf",
    "liveevents-granian": "#9467bd",
    "liveevents-redis": "#2ca02c",
    "eventstream-daphne": "#d62728",
    "eventstream-redis": "#ff7f0e",
    "nchan": "#7f7f7f",
}


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
        for index, run in enumerate(lookup(results, "peers", peer, "runs") or []):
            steps = lookup(run, "throughput", "steps") or []
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
