"""The comparative benchmark's quick core, small: it runs, every client gets every event, and the
report is written with its tables. Behaviour only: no timing is asserted.

Needs `pip install -r benchmarks/requirements.txt`; the Nchan peer also needs Debian's
nginx-light and libnginx-mod-nchan, the Redis peer Redis and PostgreSQL on 127.0.0.1 (.ci/services).
`make test` installs all of it; a peer that cannot run fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from benchmarks.support import BASE_DIR

N = 200
PEERS = ["liveevents-daphne", "liveevents-redis", "eventstream-daphne", "nchan"]

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import matplotlib  # noqa: F401  (pip install -r benchmarks/requirements.txt)
    import psutil  # noqa: F401

    out = tmp_path_factory.mktemp("benchmark")
    command = [
        sys.executable, "-m", "benchmarks.run", "--quick", "--connections", str(N), "--broadcasts", "5",
        "--throughput-connections", str(N), "--browser-saves", "3", "--peers", ",".join(PEERS),
        "--output", str(out / "BENCHMARKS.md"), "--charts-dir", str(out / "charts"),
        "--json", str(out / "results.json"),
    ]  # fmt: skip
    completed = subprocess.run(command, cwd=BASE_DIR, capture_output=True, text=True, timeout=840)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    return {
        "results": json.loads((out / "results.json").read_text()),
        "report": (out / "BENCHMARKS.md").read_text(),
        "charts": out / "charts",
        "log": completed.stdout,
    }


def peer_run(benchmark: dict[str, Any], name: str) -> dict[str, Any]:
    entry = benchmark["results"]["peers"][name]
    if entry.get("unavailable"):
        pytest.fail(f"{name} could not run: {entry['unavailable']}")
    assert len(entry["runs"]) == 1, entry
    run: dict[str, Any] = entry["runs"][0]
    assert "error" not in run, run["error"]
    return run


def assert_every_client_got_every_event(run: dict[str, Any], contiguous: bool) -> None:
    measured = run["n"][str(N)]
    assert measured["connect"]["connected"] == N, measured["connect"]
    latency = measured["latency"]
    assert latency["events"] == 5
    assert latency["clients_complete"] == N, latency
    assert latency["missing"] == 0
    assert latency["duplicates"] == 0
    if contiguous:
        assert latency["clients_contiguous"] == N
    storm = measured["storm"]
    assert storm["complete"] == N, storm  # every client got its 50-event replay
    throughput = run["throughput"]
    assert throughput["steps"], throughput
    for step in throughput["steps"]:
        assert step["missing"] == 0, step
        assert step["duplicates"] == 0, step
        if contiguous:
            assert step["clients_contiguous"] == N, step


def test_liveevents_delivers_every_broadcast_with_contiguous_ids(benchmark: dict[str, Any]) -> None:
    run = peer_run(benchmark, "liveevents-daphne")
    assert_every_client_got_every_event(run, contiguous=True)
    assert run["throughput"]["lost"] == 0


def test_liveevents_on_two_processes_with_redis_delivers_every_broadcast(benchmark: dict[str, Any]) -> None:
    run = peer_run(benchmark, "liveevents-redis")
    assert_every_client_got_every_event(run, contiguous=True)
    assert run["throughput"]["lost"] == 0


def test_django_eventstream_peer_delivers_every_broadcast(benchmark: dict[str, Any]) -> None:
    assert_every_client_got_every_event(peer_run(benchmark, "eventstream-daphne"), contiguous=True)


def test_nchan_peer_delivers_every_broadcast(benchmark: dict[str, Any]) -> None:
    assert_every_client_got_every_event(peer_run(benchmark, "nchan"), contiguous=False)


def test_save_to_browser_is_measured(benchmark: dict[str, Any]) -> None:
    browser = benchmark["results"]["browser"]
    assert "error" not in browser, browser
    paths = {row["path"] for row in browser["rows"]}
    assert paths == {"process", "admin"}, browser["rows"]
    assert all(row["n"] == 3 for row in browser["rows"])


def test_report_has_its_tables_and_charts(benchmark: dict[str, Any]) -> None:
    report = benchmark["report"]
    for heading in (
        "## Targets",
        "## Peers",
        "## 1. Memory per idle stream",
        "## 2. Broadcast latency",
        "## 3. Sustained throughput",
        "## 4. Connection rate and reconnect storm",
        "## 5. Save to browser (Chromium)",
        "## Ratios",
    ):
        assert heading in report
    assert "| `liveevents-daphne` |" in report
    assert "| events lost, every load and run | all | `liveevents-daphne` | 0 |  |  | met |" in report
    assert f"N = {N}" in report
    for chart in ("memory", "latency_p50", "latency_p99", "connect_rate", "storm", "throughput"):
        path = benchmark["charts"] / f"{chart}.png"
        assert path.read_bytes().startswith(b"\x89PNG"), path
        assert f"{chart}.png" in report
