"""The report's figures, from benchmarks.run's results: values per peer and N, medians (min-max
of the repeats) as table cells, per-N tables, the ratios between peers and the Targets table."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
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

Getter = Callable[[dict[str, Any]], float | None]


def lookup(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def values_at(results: dict[str, Any], peer: str, n: int, getter: Getter) -> list[float]:
    out = []
    for run in lookup(results, "peers", peer, "runs") or []:
        measured = lookup(run, "n", str(n))
        if measured:
            value = getter(measured)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                out.append(float(value))
    return out


def throughput_values(results: dict[str, Any], peer: str, key: str) -> list[float]:
    out = []
    for run in lookup(results, "peers", peer, "runs") or []:
        value = lookup(run, "throughput", key)
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
    return lookup(m, "memory", "per_connection_kib")


def latency(q: str) -> Getter:
    return lambda m: lookup(m, "latency", "latency_ms", q)


def connect_rate(m: dict[str, Any]) -> float | None:
    return lookup(m, "connect", "rate")


def connect_errors(m: dict[str, Any]) -> float | None:
    errors = lookup(m, "connect", "errors")
    if errors is None:
        return None
    return float(sum(v for k, v in errors.items() if k != "stream-ended"))


def storm_seconds(m: dict[str, Any]) -> float | None:
    return lookup(m, "storm", "all_seconds")


def storm_errors(m: dict[str, Any]) -> float | None:
    errors = lookup(m, "storm", "errors")
    return None if errors is None else float(sum(errors.values()))


def missing(m: dict[str, Any]) -> float | None:
    return lookup(m, "latency", "missing")


def peers_in(results: dict[str, Any]) -> list[str]:
    return [name for name, entry in results["peers"].items() if entry.get("runs")]


def status_at(results: dict[str, Any], peer: str, n: int) -> str | None:
    """Why a peer has no figures at N: it failed there, its storm did not end, or it failed at a
    smaller N (larger ones are then skipped)."""
    deadline = results["meta"]["config"].get("storm_deadline")
    for run in lookup(results, "peers", peer, "runs") or []:
        measured = lookup(run, "n", str(n))
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
    "liveevents-daphne-redis": "eventstream-redis",
    "liveevents-uvicorn-redis": "eventstream-redis",
    "liveevents-granian-redis": "eventstream-redis",
}

# Sustained throughput into the throughput step's streams with p99 within the limit, as a share of
# Nchan's in the same run: at least Nchan's on uvicorn and granian, at least half on daphne.
THROUGHPUT_TARGETS = {
    "liveevents-daphne": 0.5,
    "liveevents-uvicorn": 1.0,
    "liveevents-granian": 1.0,
    "liveevents-daphne-redis": 0.5,
    "liveevents-uvicorn-redis": 1.0,
    "liveevents-granian-redis": 1.0,
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
            runs = len(lookup(results, "peers", peer, "runs") or [])
            complete = len(seconds) == runs and runs > 0
            ok = complete and max(seconds) <= 10 and not any(errors)
            worst = (
                f"worst run {max(seconds):.1f} s" if complete else f"{runs - len(seconds)} run(s) incomplete"
            )
            rows.append([
                "reconnect storm: all replayed ≤ 10 s, no error (every run)", f"{n:,}", f"`{peer}`",
                cell(seconds, 1, " s"), worst, f"storm errors {int(sum(errors))}", verdict(ok),
            ])  # fmt: skip
    nchan_rate = median_or_none(throughput_values(results, "nchan", "max_rate"))
    streams = lookup(results, "meta", "config", "throughput_connections")
    for peer, share in THROUGHPUT_TARGETS.items():
        rate = median_or_none(throughput_values(results, peer, "max_rate"))
        if peer not in present or rate is None:
            continue
        label = "½ Nchan" if share == 0.5 else "Nchan"
        rows.append([
            f"events/s with p99 ≤ 1 s: ≥ {label}", f"{streams:,}" if streams else "—", f"`{peer}`",
            fmt_number(rate), "", f"{rate / nchan_rate:.2f}×" if nchan_rate else "—",
            verdict(rate >= share * nchan_rate if nchan_rate else None),
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
