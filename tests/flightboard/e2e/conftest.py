"""Browser tests: Debian's Chromium (through Playwright's sync API) against a real daphne process.

The site runs with flightboard's real settings (SQLite + in-memory channel layer) in a temporary
DJANGO_VAR_DIR. The tests never use the ORM in this process: they write through the admin UI (in
the daphne process) or through `manage.py` subprocesses (another process, whose writes reach the
board through the hub's one-second log check). A test fails if a page it opened reported a
Content-Security-Policy violation.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.support.browser import CHROMIUM, RECORD_EVENTS, REPORT_CSP_VIOLATIONS, launch_chromium
from tests.flightboard.e2e.daphne_server import DaphneServer, copy_var_dir, prepare_var_dir

TIMEOUT_MS = 10_000
LOG_LINES = 150  # of each server's log, shown with a failure

_servers: list[DaphneServer] = []
_log_marks = pytest.StashKey[list[tuple[DaphneServer, int]]]()


@pytest.fixture(autouse=True)
def _mark_server_logs(request: pytest.FixtureRequest) -> None:
    """Remember where each server's log stood, so a failure shows what the servers said meanwhile."""
    request.node.stash[_log_marks] = [(server, server.log_size()) for server in _servers]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and item.get_closest_marker("browser"):
        marks = dict((id(s), offset) for s, offset in item.stash.get(_log_marks, []))
        for server in _servers:
            lines = server.log_text(marks.get(id(server), 0)).splitlines()
            text = "\n".join(lines[-LOG_LINES:])
            report.sections.append((f"daphne log ({server.url}, {report.when})", text or "(empty)"))
    return report


@pytest.fixture(scope="module")
def prepared_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var dir after migrate, collectstatic, seed_flights, create_demo_admin and
    create_demo_users. Never served itself: servers get copies, so each has a fresh database."""
    var_dir = tmp_path_factory.mktemp("flightboard-var") / "var"
    prepare_var_dir(var_dir)
    return var_dir


@pytest.fixture(scope="module")
def make_server(
    prepared_var_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], DaphneServer]]:
    """Start a daphne process on a copy of the prepared var dir; every one is stopped at the end."""
    started: list[DaphneServer] = []
    names = itertools.count(1)

    def make() -> DaphneServer:
        root = tmp_path_factory.mktemp(f"site{next(names)}")
        copy_var_dir(prepared_var_dir, root / "var")
        server = DaphneServer(root / "var", root / "daphne.log")
        started.append(server)
        _servers.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.stop()
        _servers.remove(server)


@pytest.fixture(scope="module")
def server(make_server: Callable[[], DaphneServer]) -> DaphneServer:
    """The module's shared site. Tests that change flights use their own flight codes."""
    return make_server()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make browser` installs Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def csp_violations() -> list[dict[str, Any]]:
    """The Content-Security-Policy violations reported by the pages of the test's browser
    contexts (page, directive, blocked URL, source, line, sample), in order."""
    return []


@pytest.fixture
def new_context(browser: Any, csp_violations: list[dict[str, Any]]) -> Iterator[Callable[..., Any]]:
    """Separate browser contexts (own cookies), recording stream events in window.__received and
    stream URLs in window.__connects (benchmarks/support/record_events.js); closed after the test,
    which then fails if any of their pages reported a Content-Security-Policy violation."""
    contexts: list[tuple[Any, bool]] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.expose_function("__reportCspViolation", lambda violation: csp_violations.append(violation))
        context.add_init_script(path=RECORD_EVENTS)
        context.add_init_script(path=REPORT_CSP_VIOLATIONS)
        contexts.append((context, options.get("java_script_enabled", True)))
        return context

    yield make
    for context, scripted in contexts:
        # A round trip through each page's event loop: the violations it queued are reported
        # first. (Without JavaScript, a page runs no listener and no timer.)
        for page in context.pages if scripted else ():
            with contextlib.suppress(Exception):
                page.evaluate("() => new Promise((resolve) => setTimeout(resolve))")
        context.close()
    if csp_violations:
        pytest.fail(f"Content-Security-Policy violations: {csp_violations}", pytrace=False)
