"""pytest plugin: pick the Django project a test run needs from the paths it is asked to run.

The library's tests (tests/liveevents/) run on the smallest project that uses liveevents
(tests/notes/); the site's tests (tests/flightboard/) on flightboard. One pytest process can only
hold one settings module, so a run covers one of the two; `make test` runs both.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PROJECTS = {
    TESTS / "liveevents": "tests.notes.settings",
    TESTS / "flightboard": "tests.flightboard.settings",
}


def settings_for(paths: list[Path]) -> str | None:
    """The settings module for tests under `paths`, or None when they need more than one project."""
    chosen = set()
    for path in paths:
        matches = [module for folder, module in PROJECTS.items() if path.is_relative_to(folder)]
        if not matches:
            return None
        chosen.update(matches)
    return chosen.pop() if len(chosen) == 1 else None


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None]:
    # Before pytest-django reads DJANGO_SETTINGS_MODULE; --ds or the variable still win.
    options = parser.parse_known_args(args)
    if not getattr(options, "ds", None) and "DJANGO_SETTINGS_MODULE" not in os.environ:
        paths = [Path(arg.split("::")[0]).resolve() for arg in options.file_or_dir or []]
        module = settings_for(paths) if paths else None
        if module is None and not (options.help or options.version):
            raise pytest.UsageError(
                "Run the library's tests and the site's tests separately, each on its own project: "
                "`pytest tests/liveevents` (tests/notes) or `pytest tests/flightboard` (flightboard); "
                "`make test` runs both."
            )
        if module is not None:
            os.environ["DJANGO_SETTINGS_MODULE"] = module
    return (yield)
