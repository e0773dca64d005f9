"""Latency from a model save to the open board: commit -> event log -> hub -> SSE -> browser.

    .venv/bin/python benchmarks/save_to_browser.py [--saves 100] [--interval 0.25]

Starts its own daphne (flightboard's real settings, SQLite + in-memory channel layer, temp var
dir), opens the board in Debian's Chromium and saves one Flight's state back and forth N times on
two paths, reported separately:

  process  A separate Python process (django.setup(), ORM, one connection, stays up) saves in
           `transaction.atomic()` like the admin and prints time.time() just after each commit.
           The in-memory layer cannot cross processes, so the daphne process hears of these
           writes through its hub's log check (CATCH_UP_INTERVAL: 1 s with this layer).
  admin    Logged-in POSTs of the admin change form (urllib + cookies + CSRF): the save runs
           inside daphne, and on commit the in-memory layer wakes the hub at once.
           Commit time: the admin LogEntry's action_time (written in the same transaction just
           after the save, a few ms before the commit); the time the request was sent is
           reported too (an upper bound that includes the request's own work).

The page records Date.now() when each flightStateUpdate reaches it (an EventSource listener
installed by an init script, run in the same dispatch as the board's handler). Same machine
clock on both sides: latency = receive_ms - commit_ms. Saves are spaced by --interval with
+-50 % jitter so they do not phase-lock with the 1 s log check.
"""

from __future__ import annotations

import argparse
import datetime
import http.cookiejar
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from daphne_site import BASE_DIR, Site

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
FLIGHT = "BENCH1"

RECORD = """
(() => {
  const Native = window.EventSource;
  window.__updates = [];
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      super.addEventListener("flightStateUpdate", (event) => {
        window.__updates.push({ id: Number(event.lastEventId), t: Date.now() });
      });
    }
  };
})();
"""

# The saving process: stays connected, saves in atomic blocks, prints "<event id> <commit time>".
SAVER = r"""
import random, sys, time
import django
django.setup()
from django.db import transaction
from flightboard.models import Flight
from liveevents.models import Stream

count, interval = int(sys.argv[1]), float(sys.argv[2])
flight = Flight.objects.get(flight=sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    with transaction.atomic():
        flight.state = "landing" if flight.state != "landing" else "landed"
        flight.save()
        event_id = Stream.current_id("flights")  # ours: the write lock is held until commit
    committed = time.time()
    print(event_id, repr(committed), flush=True)
    time.sleep(interval * random.uniform(0.5, 1.5))
"""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(label: str, latencies_ms: list[float]) -> str:
    parts = [f"p{q}={percentile(latencies_ms, q):7.1f}" for q in (50, 90, 99)]
    return (
        f"  {label:<44} n={len(latencies_ms):<4} min={min(latencies_ms):7.1f} {' '.join(parts)} "
        f"max={max(latencies_ms):7.1f} mean={sum(latencies_ms) / len(latencies_ms):7.1f}  (ms)"
    )


def wait_for_updates(page, upto: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        updates = page.evaluate("window.__updates")
        if updates and updates[-1]["id"] >= upto:
            return updates
        if time.monotonic() > deadline:
            raise RuntimeError(f"the board did not receive event {upto}; last: {updates[-1:]}")
        page.wait_for_timeout(100)


def received_times(updates: list[dict], ids: list[int]) -> dict[int, float]:
    seen = {u["id"]: u["t"] for u in updates}
    missing = [i for i in ids if i not in seen]
    if missing:
        raise RuntimeError(f"events never reached the board: {missing}")
    return seen


def run_process_path(site: Site, page, saves: int, interval: float) -> list[float]:
    saver = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(saves), str(interval), FLIGHT],
        cwd=BASE_DIR,
        env=site.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert saver.stdin and saver.stdout
    if saver.stdout.readline().strip() != "ready":
        raise RuntimeError("the saving process did not start")
    saver.stdin.write("go\n")
    saver.stdin.flush()
    commits = [(int(line.split()[0]), float(line.split()[1]) * 1000) for line in saver.stdout]
    if saver.wait() != 0 or len(commits) != saves:
        raise RuntimeError("the saving process failed")
    seen = received_times(wait_for_updates(page, commits[-1][0]), [i for i, _ in commits])
    return [seen[i] - t for i, t in commits]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def admin_session(
    site: Site, password: str
) -> tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())
    opener.open(site.url + "/admin/login/").read()
    post(opener, jar, site.url + "/admin/login/?next=/admin/", {"username": "admin", "password": password})
    return opener, jar


def post(opener, jar, url: str, fields: dict[str, str]) -> None:
    token = next(c.value for c in jar if c.name == "csrftoken")
    data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
    try:
        response = opener.open(urllib.request.Request(url, data=data))
        body = response.read().decode(errors="replace")
        raise RuntimeError(f"POST {url} answered {response.status}, not a redirect:\n{body[:2000]}")
    except urllib.error.HTTPError as error:  # 302: saved (the redirect is not followed)
        if error.code != 302:
            raise


def run_admin_path(
    site: Site, page, password: str, pk: int, saves: int, interval: float, head: int
) -> tuple[list[float], list[float]]:
    opener, jar = admin_session(site, password)
    url = f"{site.url}/admin/flightboard/flight/{pk}/change/"
    sent: list[float] = []
    state = "landed"
    for _ in range(saves):
        state = "landing" if state != "landing" else "landed"
        sent.append(time.time() * 1000)
        fields = {"origin": "Benchmark", "arrival": "23:59:00", "state": state, "_save": "Save"}
        post(opener, jar, url, fields)
        time.sleep(interval * random.uniform(0.5, 1.5))
    ids = list(range(head + 1, head + saves + 1))
    seen = received_times(wait_for_updates(page, ids[-1]), ids)
    out = site.manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.contrib.admin.models import LogEntry\n"
        f"for e in LogEntry.objects.filter(object_id='{pk}').order_by('id'):\n"
        "    print(e.action_time.timestamp())",
    )
    logged = [float(line) * 1000 for line in out.split()][-saves:]
    if len(logged) != saves:
        raise RuntimeError(f"expected {saves} admin log entries, found {len(logged)}")
    from_commit = [seen[i] - t for i, t in zip(ids, logged, strict=True)]
    from_request = [seen[i] - t for i, t in zip(ids, sent, strict=True)]
    return from_commit, from_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=100, help="saves per path (default 100)")
    parser.add_argument(
        "--interval", type=float, default=0.25, help="mean seconds between saves (default 0.25)"
    )
    parser.add_argument("--paths", choices=["both", "process", "admin"], default="both")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="save-to-browser-") as tmp:
        site = Site(Path(tmp) / "var")
        password = site.prepare()
        pk = int(
            site.manage(
                "shell",
                "--no-imports",
                "-c",
                "import datetime\nfrom flightboard.models import Flight\n"
                f"flight = Flight.objects.create(flight={FLIGHT!r}, origin='Benchmark',"
                " arrival=datetime.time(23, 59))\n"
                "print(flight.pk)",
            ).split()[-1]
        )
        site.start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_context().new_page()
                page.add_init_script(RECORD)
                page.goto(site.url + "/")
                page.wait_for_function(
                    "document.documentElement.dataset.boardStatus === 'live'", timeout=15000
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
                    head = int(page.evaluate("document.documentElement.dataset.lastEventId"))
                    from_commit, from_request = run_admin_path(
                        site, page, password, pk, args.saves, args.interval, head
                    )
                    print(
                        "path 'admin': admin change-form POSTs, saved inside daphne;"
                        " the in-memory layer wakes the hub"
                    )
                    print(summary("receive - LogEntry.action_time (pre-commit)", from_commit))
                    print(summary("receive - request sent", from_request))
                browser.close()
        finally:
            site.stop()


if __name__ == "__main__":
    main()
