"""Percentiles and the summary of a latency sample (min, p50, p90, p99, max, mean, 101 quantiles)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan if empty)."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summarise(values: Iterable[float]) -> dict[str, Any]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "min": ordered[0],
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
        # 101 quantiles, for the report's charts.
        "quantiles": [percentile(ordered, q) if q else ordered[0] for q in range(0, 101)],
    }
