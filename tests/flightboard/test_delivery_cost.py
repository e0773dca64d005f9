"""benchmarks/delivery_cost.py, small: it runs on flightboard's application and every connection
writes every event in every way events arrive. Behaviour only: no figure is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.delivery_cost import MODES
from benchmarks.support import BASE_DIR

pytestmark = pytest.mark.timeout(300)


def test_the_delivery_micro_benchmark_measures_every_mode(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    command = [
        sys.executable, "-m", "benchmarks.delivery_cost",
        "--connections", "20", "--events", "20", "--repeat", "1", "--json", str(out),
    ]  # fmt: skip
    completed = subprocess.run(command, cwd=BASE_DIR, capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(out.read_text())
    for mode in MODES:
        assert results[mode]["ns"] > 0, results
        assert f"| {mode} |" in completed.stdout
