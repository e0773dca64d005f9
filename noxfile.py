"""The whole test command (`make test` runs `nox`): lint and types, the JS client's unit tests, then
the suite on each supported corner of the matrix, with coverage.

    nox -l                          the sessions
    nox -s "tests(python='3.13', django='6.1')" -- tests/liveevents/test_sse.py   one corner, some tests
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "js", "tests"]

# (Python, Django): the oldest pair and the newest one we support; both run everything.
MATRIX = [("3.11", "5.2"), ("3.13", "6.1")]
LINT_PYTHON, LINT_DJANGO = MATRIX[-1]

LINT_TOOLS = [
    "mypy>=1.18,<3",
    "django-stubs[compatible-mypy]>=6.1,<6.2",
    "types-channels>=4.3,<5",
    "ruff>=0.14,<1",
]

# The library's tests on its own small project, the site's on flightboard (tests/project.py).
SUITES = ["tests/liveevents", "tests/flightboard"]


@nox.session(python=LINT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, mypy --strict on liveevents and flightboard."""
    session.install("-r", "requirements.txt", f"Django=={LINT_DJANGO}.*", *LINT_TOOLS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "liveevents", "flightboard")


@nox.session(python=False)
def js(session: nox.Session) -> None:
    """liveevents.js's unit tests on Node's built-in runner (a fake EventSource and fetch)."""
    session.run("node", "--test", "tests/js/", external=True)


@nox.session
@nox.parametrize("python,django", MATRIX)
def tests(session: nox.Session, django: str) -> None:
    """The whole suite, browser, Redis, PostgreSQL and multi-process tests included, with coverage
    of liveevents measured over both halves (floor in pyproject's [tool.coverage.report])."""
    session.install("-r", "requirements.txt", "-r", "benchmarks/requirements.txt", f"Django=={django}.*")
    session.env["COVERAGE_FILE"] = os.path.join(session.virtualenv.location, ".coverage")
    session.run("coverage", "erase")
    if session.posargs:
        session.run("coverage", "run", "-m", "pytest", *session.posargs)
    else:
        for suite in SUITES:
            session.run("coverage", "run", "-m", "pytest", suite)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report", *(["--fail-under=0"] if session.posargs else []))
