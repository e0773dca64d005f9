"""The table of benchmarks.family_scale: markdown rows for BENCHMARKS.md, with ratios and targets.

    python -m benchmarks.family_scale_report FILE    # the table again, from family_scale's --json FILE

A ratio compares a family with the single stream (memory) or N streams with 100 (per event).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Result = dict[str, Any]
CASES = ("single", "family-100", "family")


def num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def rows(one: Result, few: Result, many: Result) -> list[tuple[str, list[str], str, str]]:
    """(figure, a cell per case, ratio, target) for one server's three cases."""

    def each(cell: Callable[[Result], str]) -> list[str]:
        return [cell(c) for c in (one, few, many)]

    def families(cell: Callable[[Result], str]) -> list[str]:
        return ["—", cell(few), cell(many)]

    memory = many["kib_per_connection"] / one["kib_per_connection"]
    growth = many["redis_per_event"] / few["redis_per_event"]
    cpu = many["cpu_ms_per_event"] / few["cpu_ms_per_event"]
    queries = max(c["queries_per_tick"] for c in (one, few, many))
    groups = all(len(set(c["groups"])) == 1 for c in (one, few, many))
    wrong = [(c["astray"], c["missing"], c["duplicates"]) for c in (few, many)]
    windows = sum(c["ticks_in_event_window"] for c in (few, many))
    p99 = many["latency_ms"]["p99"]

    def renewal(c: Result) -> str:  # the largest LayerLink.join_many() the case saw
        big = max(c.get("renewals", []), key=lambda r: r[2], default=None)
        return "none" if big is None else f"{num(big[2])} in {num((big[1] - big[0]) * 1000)} ms"

    return [
        ("server RSS per connection, KiB", [num(one["kib_per_connection"], 1), "—",
         num(many["kib_per_connection"], 1)], f"{memory:.2f}× `flights`", f"≤ 1.2×: {met(memory <= 1.2)}"),
        ("database queries per hub tick", each(lambda c: num(c["queries_per_tick"], 2)), "",
         f"1: {met(queries <= 1)}"),
        ("… of them on liveevents_stream; stream names they carried",
         each(lambda c: f"{num(c['heads_per_tick'][0], 2)}; {num(c['heads_per_tick'][1])}"), "", ""),
        ("liveevents_stream queries per connection opened", each(lambda c: num(c["heads_per_open"], 2)),
         "", ""),
        ("hub tick, ms: mean (max)", each(lambda c: "{} ({})".format(*map(num, c["tick_ms"]))), "", ""),
        ("Redis group keys / members / streams followed (with 10 warm-up)",
         each(lambda c: " / ".join(map(num, c["groups"]))), "", f"one per stream: {met(groups)}"),
        ("Redis memberships left once every connection closed", each(lambda c: num(c["groups_left"])),
         "", f"0: {met(not any(c['groups_left'] for c in (one, few, many)))}"),
        ("Redis commands per idle tick", each(lambda c: num(c["redis_per_tick"], 1)), "", ""),
        ("Redis commands per published event" + (f" ({windows} ticks in the windows)" if windows else ""),
         families(lambda c: num(c["redis_per_event"], 1)), f"{growth:.2f}× 100 streams'",
         f"does not grow: {met(growth <= 1.1)}"),
        ("largest group join at once (renewal): streams, time", families(renewal), "", ""),
        ("server CPU per published event, ms", families(lambda c: num(c["cpu_ms_per_event"], 2)),
         f"{cpu:.2f}× 100 streams'", ""),
        ("publish → receipt, ms: p50 / p99 / max",
         families(lambda c: " / ".join(num(c["latency_ms"][k]) for k in ("p50", "p99", "max"))), "",
         f"p99 < 100: {met(p99 < 100)}"),
        ("events at another connection / missing / duplicated",
         ["—", *(" / ".join(map(str, w)) for w in wrong)], "", f"0 / 0 / 0: {met(not any(map(any, wrong)))}"),
        ("connections opened per second", each(lambda c: num(c["connects_per_s"])), "", ""),
    ]  # fmt: skip


def report(results: dict[str, dict[str, Result]], n: int) -> None:
    heads = f"`flights` × {n:,} | `flight.<n>` × 100 | `flight.<n>` × {n:,}"
    print(f"\n| figure | server | {heads} | ratio | target |")
    print("|---|---|---|---|---|---|---|")
    for server, cases in results.items():
        three = [cases[case] for case in CASES]
        for figure, cells, ratio, target in rows(*three):
            print(f"| {figure} | {server} | {' | '.join(cells)} | {ratio} | {target} |")
        if any(c["tracebacks"] for c in three):
            print(f"warning: {server}: tracebacks in the server logs: {[c['tracebacks'] for c in three]}")


if __name__ == "__main__":
    saved = json.loads(Path(sys.argv[1]).read_text())
    report(saved, next(iter(saved.values()))["family"]["connections"])
