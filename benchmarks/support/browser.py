"""Debian's Chromium driven by Playwright (which downloads no browser of its own), the page
script that records what the board's EventSource receives, and the one that reports
Content-Security-Policy violations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# window.__received: [{type, id, data, t: Date.now()}, ...]; window.__connects: stream URLs.
RECORD_EVENTS = Path(__file__).with_name("record_events.js")
# Calls window.__reportCspViolation({page, directive, blocked, source, line, sample}), a function
# the test exposes, for each Content-Security-Policy violation a page reports.
REPORT_CSP_VIOLATIONS = Path(__file__).with_name("report_csp_violations.js")


def launch_chromium(playwright: Any) -> Any:
    """Headless Chromium from a started sync_playwright()."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: `make browser` installs Debian's chromium")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
