"""benchmarks/report_tables.py's Targets table: the issue's targets checked on medians of repeats."""

from __future__ import annotations

from typing import Any

from benchmarks.report_tables import target_rows


def measured(memory: float, p99: float, storm: float | None = 1.0, missing: int = 0) -> dict[str, Any]:
    return {
        "memory": {"per_connection_kib": memory},
        "latency": {"latency_ms": {"p99": p99}, "missing": missing},
        "storm": {"all_seconds": storm, "complete": 5000 if storm is not None else 0, "errors": {}},
    }


def results(peers: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "meta": {"config": {"storm_deadline": 120}},
        "peers": {
            name: {"info": {}, "runs": [{"n": {"5000": m}, "throughput": {"lost": 0}} for m in runs]}
            for name, runs in peers.items()
        },
    }


def verdicts(rows: list[list[str]]) -> dict[tuple[str, str], str]:
    return {(row[0].split(" ")[0], row[2]): row[-1] for row in rows}


def test_targets_are_checked_on_the_median_of_the_repeats() -> None:
    rows = target_rows(
        results(
            {
                # Medians: memory 20 (≤ 225/4 and ≤ 1.5 × 14), p99 100 (≤ 1000/2, ≤ 1.5 × 80).
                "liveevents-uvicorn": [measured(20, 100), measured(19, 90), measured(40, 400)],
                # Memory 30 > 1.5 × 14; p99 130 > 1.5 × 80; a storm over 10 s in one run.
                "liveevents-daphne": [measured(30, 130, storm=11.0), measured(30, 130), measured(30, 130)],
                "eventstream-daphne": [measured(225, 1000)] * 3,
                "nchan": [measured(14, 80)] * 3,
            }
        ),
        [5000],
    )
    got = verdicts(rows)
    assert got[("memory", "`liveevents-uvicorn`")] == "met"
    assert got[("broadcast", "`liveevents-uvicorn`")] == "met"
    assert got[("reconnect", "`liveevents-uvicorn`")] == "met"
    assert got[("memory", "`liveevents-daphne`")] == "**missed**"
    assert got[("broadcast", "`liveevents-daphne`")] == "**missed**"
    assert got[("reconnect", "`liveevents-daphne`")] == "**missed**"  # every run must make it
    assert got[("events", "`liveevents-daphne`")] == "met"


def test_a_lost_event_or_an_unfinished_storm_is_a_miss() -> None:
    rows = target_rows(
        results(
            {
                "liveevents-daphne": [measured(10, 10, missing=1), measured(10, 10, storm=None)],
                "nchan": [measured(14, 80)] * 2,
            }
        ),
        [5000],
    )
    got = verdicts(rows)
    assert got[("events", "`liveevents-daphne`")] == "**missed**"
    assert got[("reconnect", "`liveevents-daphne`")] == "**missed**"
