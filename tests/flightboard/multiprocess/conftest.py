"""Fixtures for the multi-process tests: real daphne processes sharing PostgreSQL and Redis.

Each test module gets a fresh PostgreSQL database (liveevents_mp_<random>) on the machine's
server, migrated and seeded by `manage.py` subprocesses, and a private Redis database number on
the shared 127.0.0.1:6379 (never flushed as a whole). The Redis outage test starts its own
redis-server. These tests need the real services: they fail, not skip, without them.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.support.servers import ServerProcess, daphne_command
from benchmarks.support.services import (
    RedisServer,
    fresh_database,
    postgres_available,
    private_redis_db,
    redis_available,
)
from benchmarks.support.sites import Site
from tests.flightboard.multiprocess.harness import SharedSite, wsgi_command

LOG_LINES = 120


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "multiprocess: real daphne processes sharing PostgreSQL and Redis on 127.0.0.1 (fault tolerance)",
    )


# Services


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the module, dropped (connections and all) afterwards."""
    missing = postgres_available()
    if missing:
        pytest.fail(f"PostgreSQL is required on 127.0.0.1:5432 (user postgres): {missing}")
    with fresh_database("liveevents_mp") as url:
        yield url


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """An empty DB number of the shared Redis, claimed for the module: channels_redis's keys there
    (groups, channels) are the module's own. Only those are deleted afterwards."""
    missing = redis_available()
    if missing:
        pytest.fail(f"Redis is required on 127.0.0.1:6379: {missing}")
    with private_redis_db() as url:
        yield url


@pytest.fixture(scope="session")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """collectstatic once (DEBUG is off: pages need whitenoise's manifest); sites link to it."""
    var_dir = tmp_path_factory.mktemp("mp-static") / "var"
    var_dir.mkdir()
    Site(var_dir).manage("collectstatic", "--noinput", "-v", "0")
    return var_dir / "static"


@pytest.fixture(scope="module")
def site(
    database_url: str, redis_url: str, static_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> SharedSite:
    """The flightboard site on the module's database: migrated, seeded, with the demo admin."""
    var_dir = tmp_path_factory.mktemp("mp-site") / "var"
    var_dir.mkdir()
    (var_dir / "static").symlink_to(static_root, target_is_directory=True)
    site = SharedSite.create(var_dir, database_url, redis_url)
    site.prepare(static=False)
    return site


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, which it may stop and start again."""
    server = RedisServer(tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()


# Servers

_running: list[ServerProcess] = []


@pytest.fixture
def start_servers(site: SharedSite, tmp_path: Path) -> Iterator[Callable[..., list[ServerProcess]]]:
    """start_servers(n, kind="daphne", redis_url=None): n server processes of the site, started
    together; all stopped after the test (SIGCONT first, for any the test paused)."""
    started: list[ServerProcess] = []
    names = itertools.count(1)

    def start(count: int = 1, *, kind: str = "daphne", redis_url: str | None = None) -> list[ServerProcess]:
        command = daphne_command if kind == "daphne" else wsgi_command
        servers = []
        for _ in range(count):
            name = f"{kind}{next(names)}"
            server = ServerProcess(
                name, command, site.env(site.redis_env(redis_url)), tmp_path / f"{name}.log"
            )
            servers.append(server)
            started.append(server)
            _running.append(server)
            server.start(wait=False)
        for server in servers:
            server.wait_ready()
        return servers

    yield start
    for server in started:
        if server.running:
            server.signal(signal.SIGCONT)
        server.stop(timeout=3)
        _running.remove(server)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and item.get_closest_marker("multiprocess"):
        for server in _running:
            lines = server.log_text().splitlines()
            report.sections.append(
                (f"{server.name} log (port {server.port})", "\n".join(lines[-LOG_LINES:]) or "(empty)")
            )
    return report
