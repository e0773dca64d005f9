"""Latency from a model save to the open board: commit -> event log -> hub -> SSE -> browser.

    .venv/bin/python -m benchmarks.save_to_browser [--saves 100] [--interval 0.25]

Starts its own daphne (flightboard's real settings, SQLite + in-memory channel layer, temp var
dir), opens the board in Debian's Chromium and saves one Flight's state back and forth N times on
two paths, reported separately:

  process  A separate Python process (benchmarks.support.site_commands: django.setup(), ORM, one
           connection) saves in `transaction.atomic()` like the admin and prints time.time() at
           each commit.
           The in-memory layer cannot cross processes, so the daphne process hears of these
           writes through its hub's log check (CATCH_UP_INTERVAL: 1 s with this layer).
  admin    Logged-in POSTs of the admin change form (urllib + cookies + CSRF): the save runs
           inside daphne, and on commit the in-memory layer wakes the hub at once.
           Commit time: the admin LogEntry's action_time (written in the same transaction just
           after the save, a few ms before the commit); the time the request was sent is
           reported too (an upper bound that includes the request's own work).

The page records Date.now() when each flightStateUpdate reaches it (an EventSource listener
installed by benchmarks/support/record_events.js, run in the same dispatch as the board's
handler). Same machine clock on both sides: latency = receive_ms - commit_ms. Saves are spaced by
--interval with +-50 % jitter so they do not phase-lock with the 1 s log check.
"""

from __future__ import annotations

import argparse
import datetime
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_save import FLIGHT
from benchmarks.support.admin import AdminSession
from benchmarks.support.browser import RECORD_EVENTS, launch_chromium
from benchmarks.support.servers import ServerProcess, daphne_command
from benchmarks.support.sites import Site
from benchmarks.support.stats import percentile
from liveevents.cursor import parse_cursor

# The board follows flights and announcements over one connection: its ids are cursors, the
# event's own stream first (`flights:12,announcements:3`); the flights position is what counts.
UPDATES = (
    "window.__received.filter((e) => e.type === 'flightStateUpdate')"
    ".map((e) => [Number(e.id.split(',')[0].split(':')[1]), e.t])"
)


def summary(label: str, latencies_ms: list[float]) -> str:
    ordered = sorted(latencies_ms)
    parts = [f"p{q}={percentile(ordered, q):7.1f}" for q in (50, 90, 99)]
    return (
        f"  {label:<44} n={len(ordered):<4} min={ordered[0]:7.1f} {' '.join(parts)} "
        f"max={ordered[-1]:7.1f} mean={sum(ordered) / len(ordered):7.1f}  (ms)"
    )


def received_times(page: Any, ids: list[int], timeout: float = 60) -> dict[int, float]:
    """Date.now() at which the page received each of `ids` (all of them, or RuntimeError)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = dict(page.evaluate(UPDATES))
        missing = [i for i in ids if i not in seen]
        if not missing:
            return seen
        if time.monotonic() > deadline:
            raise RuntimeError(f"events never reached the board: {missing}")
        page.wait_for_timeout(100)


def run_process_path(site: Site, page: Any, saves: int, interval: float) -> list[float]:
    output = site.command(
        "save", FLIGHT, "--count", str(saves), "--interval", str(interval), "--jitter", "0.5",
        "--states", "landing,landed", timeout=120 + saves * interval * 2,
    )  # fmt: skip
    commits = [(int(line.split()[2]), float(line.split()[1]) * 1000) for line in output.stdout.splitlines()
               if line.startswith("committed ")]  # fmt: skip
    if len(commits) != saves:
        raise RuntimeError(f"the saving process committed {len(commits)} saves of {saves}")
    seen = received_times(page, [i for i, _ in commits])
    return [seen[i] - t for i, t in commits]


def run_admin_path(
    site: Site, url: str, page: Any, pk: int, saves: int, interval: float, head: int
) -> tuple[list[float], list[float]]:
    admin = AdminSession(url, site.password)
    admin.login()
    sent: list[float] = []
    state = "landed"
    for _ in range(saves):
        state = "landing" if state != "landing" else "landed"
        sent.append(time.time() * 1000)
        admin.change_flight(pk, origin="Benchmark", arrival="23:59:00", state=state)
        time.sleep(interval * random.uniform(0.5, 1.5))
    ids = list(range(head + 1, head + saves + 1))
    seen = received_times(page, ids)
    out = site.command("admin-log-times", str(pk)).stdout
    logged = [float(line) * 1000 for line in out.split()][-saves:]
    if len(logged) != saves:
        raise RuntimeError(f"expected {saves} admin log entries, found {len(logged)}")
    from_commit = [seen[i] - t for i, t in zip(ids, logged, strict=True)]
    from_request = [seen[i] - t for i, t in zip(ids, sent, strict=True)]
    return from_commit, from_request


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.save_to_browser", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--saves", type=int, default=100, help="saves per path (default 100)")
    parser.add_argument(
        "--interval", type=float, default=0.25, help="mean seconds between saves (default 0.25)"
    )
    parser.add_argument("--paths", choices=["both", "process", "admin"], default="both")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="save-to-browser-") as tmp:
        site = Site(Path(tmp) / "var")
        site.prepare()
        pk = int(site.command("create-flight", FLIGHT).stdout.split()[-1])
        server = ServerProcess("daphne", daphne_command, site.env(), Path(tmp) / "daphne.log")
        server.start()
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_context().new_page()
                page.add_init_script(path=RECORD_EVENTS)
                page.goto(server.url + "/")
                # A function, not an expression: the board's CSP forbids eval, which Playwright
                # uses to poll an expression that is not true at once.
                page.wait_for_function(
                    "() => document.documentElement.dataset.boardStatus === 'live'", timeout=15000
                )
                print(
                    f"save -> browser latency, {args.saves} saves per path, ~{args.interval}s apart, "
                    f"daphne + SQLite + InMemoryChannelLayer, Chromium headless ({datetime.date.today()})"
                )
                if args.paths in ("both", "process"):
                    latencies = run_process_path(site, page, args.saves, args.interval)
                    print(
                        "path 'process': ORM saves in another process;"
                        " daphne hears of them through the hub's 1 s log check"
                    )
                    print(summary("receive - commit (time.time() after commit)", latencies))
                if args.paths in ("both", "admin"):
                    cursor = page.evaluate("document.documentElement.dataset.lastEventId")
                    head = parse_cursor(cursor)["flights"]
                    from_commit, from_request = run_admin_path(
                        site, server.url, page, pk, args.saves, args.interval, head
                    )
                    print(
                        "path 'admin': admin change-form POSTs, saved inside daphne;"
                        " the in-memory layer wakes the hub"
                    )
                    print(summary("receive - LogEntry.action_time (pre-commit)", from_commit))
                    print(summary("receive - request sent", from_request))
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
