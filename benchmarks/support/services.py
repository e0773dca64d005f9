"""PostgreSQL and Redis for a run: a fresh database (dropped afterwards), a claimed empty DB number
of the shared Redis (only its own keys deleted afterwards), or a private redis-server.

The shared services are the machine's, on 127.0.0.1 (.ci/services starts them): nothing here
drops a database it did not create, flushes a Redis DB, or touches DB number 0.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.support.servers import ServerProcess

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SHARED_REDIS = "redis://127.0.0.1:6379"
# Set in a DB number while someone uses it: others looking for an empty one skip it.
CLAIM_KEY = "liveevents-claim"
CLAIM_SECONDS = 6 * 3600  # longer than any run; a killed run's claim lapses by itself


def postgres_available() -> str | None:
    """None, or why PostgreSQL cannot be used."""
    try:
        import psycopg

        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except Exception as error:
        return f"no PostgreSQL on 127.0.0.1:5432 ({error})"
    return None


def redis_available() -> str | None:
    """None, or why the shared Redis cannot be used."""
    try:
        import redis

        redis.Redis.from_url(SHARED_REDIS, socket_timeout=2).ping()
    except Exception as error:
        return f"no Redis on 127.0.0.1:6379 ({error})"
    return None


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database named `prefix`_<random>, dropped (connections and all) afterwards;
    yields its URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _claim(url: str) -> bool:
    """Claim an empty DB number: SET NX of the claim key, kept only if it is then the only key."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        if client.dbsize() or not client.set(CLAIM_KEY, os.getpid(), nx=True, ex=CLAIM_SECONDS):
            return False
        if client.dbsize() == 1:
            return True
        client.delete(CLAIM_KEY)
        return False
    finally:
        client.close()


def delete_layer_keys(url: str) -> int:
    """Remove channels_redis's keys (prefix "asgi") from that DB number only."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match="asgi*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


@contextlib.contextmanager
def private_redis_db(url: str | None = None) -> Iterator[str]:
    """redis://127.0.0.1:6379/<n>: an empty DB number among 1..15, claimed, so that channels_redis's
    keys (groups, channels) there are ours alone: two sites sharing one would hear each other's
    wake-ups. With `url`, that DB number, which must be empty. Afterwards only channels_redis's
    keys and the claim are deleted."""
    import redis

    if url is None:
        numbers = list(range(1, 16))
        random.shuffle(numbers)
        url = next((f"{SHARED_REDIS}/{n}" for n in numbers if _claim(f"{SHARED_REDIS}/{n}")), None)
        if url is None:
            raise RuntimeError("no empty Redis DB number among 1..15")
    elif not _claim(url):
        raise RuntimeError(f"{url} holds keys: it may be someone else's; choose an empty DB number")
    try:
        yield url
    finally:
        delete_layer_keys(url)
        client = redis.Redis.from_url(url, socket_timeout=5)
        client.delete(CLAIM_KEY)
        client.close()


class RedisServer(ServerProcess):
    """`redis-server` of our own on a free port, without persistence: stoppable and restartable
    (empty again, as after a crash) without disturbing anybody else's Redis."""

    def __init__(self, log_path: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found")
        directory = str(log_path.parent)

        def command(port: int) -> list[str]:
            return [
                binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", directory,
            ]  # fmt: skip

        super().__init__("redis-server", command, os.environ, log_path)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, wait: bool = True, timeout: float = 10) -> None:
        super().start(wait=wait, timeout=timeout)

    def answers(self) -> bool:
        import redis

        client = self.client()
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def client(self, **options: Any) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5, **options)
