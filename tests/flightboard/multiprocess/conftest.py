"""Fixtures for the multi-process tests: real daphne processes sharing PostgreSQL and Redis.

Each test module gets a fresh PostgreSQL database (liveevents_mp_<random>) on the machine's
server, migrated and seeded by `manage.py` subprocesses, and a private Redis database number on
the shared 127.0.0.1:6379 (never flushed as a whole). The Redis outage test starts its own
redis-server. These tests need the real services: they fail, not skip, without them.
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.multiprocess.harness import (
    BASE_DIR,
    MANAGE,
    RedisServer,
    ServerProcess,
    Site,
    daphne_args,
    wsgi_args,
)

POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
SHARED_REDIS = "redis://127.0.0.1:6379"
LOG_LINES = 120
CLAIM_KEY = "liveevents-multiprocess-tests"
# Database numbers other tools use without checking that they are empty (benchmarks/slow_client.py
# and benchmarks/redis_commands.py default to 9). Two sites sharing a database number and the
# channels_redis prefix hear each other's wake-ups: the hub would fan out the other site's events.
SHARED_DB_NUMBERS = {0, 9}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "multiprocess: real daphne processes sharing PostgreSQL and Redis on 127.0.0.1 (fault tolerance)",
    )


# Services


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the module, dropped (connections and all) afterwards."""
    name = f"liveevents_mp_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is required on 127.0.0.1:5432 (user postgres): {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """redis://127.0.0.1:6379/<n>: an empty database number of the shared Redis, claimed with a
    marker key (others looking for an empty one skip it), so channels_redis's keys (groups,
    channels) are the module's own. Only the module's keys are deleted afterwards."""
    try:
        redis.Redis.from_url(SHARED_REDIS, socket_timeout=5).ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis is required on 127.0.0.1:6379: {error}")
    numbers = [n for n in range(1, 16) if n not in SHARED_DB_NUMBERS]
    random.shuffle(numbers)
    for number in numbers:
        client = redis.Redis.from_url(f"{SHARED_REDIS}/{number}")
        if client.dbsize() == 0 and client.set(CLAIM_KEY, os.getpid(), nx=True, ex=3600):
            if client.dbsize() == 1:
                break
            client.delete(CLAIM_KEY)
    else:
        pytest.fail("no empty Redis database number among 1..15")
    yield f"{SHARED_REDIS}/{number}"
    for key in client.scan_iter(match="asgi*", count=1000):
        client.delete(key)
    client.delete(CLAIM_KEY)


@pytest.fixture(scope="session")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """collectstatic once (DEBUG is off: pages need whitenoise's manifest); sites link to it."""
    var_dir = tmp_path_factory.mktemp("mp-static") / "var"
    var_dir.mkdir()
    env = Site(var_dir, "sqlite:///" + str(var_dir / "unused.sqlite3"), SHARED_REDIS).env()
    subprocess.run(
        [sys.executable, str(MANAGE), "collectstatic", "--noinput", "-v", "0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=120,
    )
    return var_dir / "static"


@pytest.fixture(scope="module")
def site(
    database_url: str, redis_url: str, static_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Site:
    """The flightboard site on the module's database: migrated, seeded, with the demo admin."""
    var_dir = tmp_path_factory.mktemp("mp-site") / "var"
    var_dir.mkdir()
    (var_dir / "static").symlink_to(static_root, target_is_directory=True)
    site = Site(var_dir, database_url, redis_url)
    site.manage("migrate", "--noinput", "-v", "0")
    site.manage("seed_flights")
    site.manage("create_demo_admin")
    site.password = (var_dir / "admin-password.txt").read_text().strip()
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
def start_servers(site: Site, tmp_path: Path) -> Iterator[Callable[..., list[ServerProcess]]]:
    """start_servers(n, kind="daphne", redis_url=None): n server processes of the site, started
    together; all stopped after the test (SIGCONT first, for any the test paused)."""
    started: list[ServerProcess] = []
    names = itertools.count(1)

    def start(count: int = 1, *, kind: str = "daphne", redis_url: str | None = None) -> list[ServerProcess]:
        args = daphne_args() if kind == "daphne" else wsgi_args()
        servers = []
        for _ in range(count):
            name = f"{kind}{next(names)}"
            server = ServerProcess(name, args, site.env(redis_url), tmp_path / f"{name}.log")
            servers.append(server)
            started.append(server)
            _running.append(server)
            server.start()
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
