"""The multi-process tests' site: flightboard on a fresh PostgreSQL database and a Redis DB number,
served by several processes, written to by others; what the tests assert about their clients.
Processes, sites, services and the SSE client come from benchmarks.support.

Nothing here uses the ORM of the test process: the site is prepared and changed through
subprocesses and HTTP; the database and Redis are only inspected directly.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import psycopg

from benchmarks.support.processes import Output
from benchmarks.support.sites import Site
from benchmarks.support.sse_client import SSEClient, sequence_problems

STREAM = "flights"
# With REDIS_URL set, the hub compares the log's head with what it delivered every
# min(CATCH_UP_INTERVAL or HEARTBEAT, HEARTBEAT / 2) = 7.5 s with the default HEARTBEAT of 15 s.
LOG_CHECK = 7.5
# Anything that travels through Redis arrives far sooner than a log check.
LAYER_LATENCY = 2.0


class SharedSite(Site):
    """The site every server process and writer of a test module shares: one PostgreSQL database,
    one Redis DB number, one var dir (secret key, static files). The surrounding environment's
    DJANGO_LOG_LEVEL and LIVEEVENTS_CONFIG do not reach it: the tests rely on the defaults."""

    @classmethod
    def create(cls, var_dir: Path, database_url: str, redis_url: str) -> SharedSite:
        settings = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
        return cls(var_dir, settings, drop=("DJANGO_LOG_LEVEL", "LIVEEVENTS_CONFIG"))

    def redis_env(self, redis_url: str | None) -> dict[str, str] | None:
        return {"REDIS_URL": redis_url} if redis_url else None

    # Writers in other processes; each prints `committed <time.time()> <head>` at its commits.

    async def save_flight(self, code: str, state: str, *, redis_url: str | None = None) -> Output:
        """Flight.save() of flight `code` with `state`: one flightStateUpdate."""
        return await self.acommand("save", code, "--states", state, env=self.redis_env(redis_url))

    async def publish(
        self, count: int, *, per_transaction: int | tuple[int, int] = 1, pause: float = 0.0,
        event: str = "tick", timeout: float = 180, streams: tuple[str, ...] = (STREAM,),
    ) -> Output:  # fmt: skip
        """`count` events (data {"n": index}), `per_transaction` per transaction (or a random number
        in that inclusive range), `pause` seconds between transactions, on `streams` in turn."""
        low, high = per_transaction if isinstance(per_transaction, tuple) else (per_transaction,) * 2
        return await self.acommand(
            "publish", "--count", str(count), "--per-transaction", f"{low},{high}", "--pause", str(pause),
            "--event", event, "--streams", ",".join(streams), timeout=timeout,
        )  # fmt: skip

    # Inspection

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.settings["DATABASE_URL"], autocommit=True) as connection:
            return connection.execute(sql, params).fetchall()

    def head(self, stream: str = STREAM) -> int:
        rows = self.query("SELECT last_id FROM liveevents_stream WHERE name = %s", stream)
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def flight_pk(self, code: str) -> int:
        return int(self.query("SELECT id FROM flightboard_flight WHERE flight = %s", code)[0][0])  # type: ignore[call-overload]


def wsgi_command(port: int) -> list[str]:
    return [sys.executable, "-m", "tests.flightboard.multiprocess.wsgi_server", str(port)]


def group_key(stream: str = STREAM) -> str:
    """channels_redis's sorted set for the stream's group (default prefix "asgi")."""
    return f"asgi:group:liveevents.{stream}"


def channel_key(channel: str) -> str:
    """channels_redis's sorted set holding the messages of a process-local channel
    ("liveevents.<client prefix>!<id>" -> "asgi" + "liveevents.<client prefix>!")."""
    return "asgi" + channel[: channel.index("!") + 1]


async def connect_all(clients: Sequence[SSEClient], port: int) -> None:
    await asyncio.gather(*(client.connect(port) for client in clients))


async def wait_all(clients: Sequence[SSEClient], event_id: int, timeout: float) -> None:
    await asyncio.gather(*(client.wait_for_id(event_id, timeout) for client in clients))


async def stop_all(clients: Sequence[SSEClient]) -> None:
    await asyncio.gather(*(client.stop() for client in clients))


def assert_exact(clients: Sequence[SSEClient], expected: Sequence[int]) -> None:
    """Every client received exactly `expected`, in order, once each."""
    problems = {c.name: sequence_problems(c.ids, expected) for c in clients}
    problems = {name: text for name, text in problems.items() if text}
    details = {c.name: c.where(expected) for c in clients if c.name in problems}
    resets = {c.name: [r.data for r in c.events_named("streamReset")] for c in clients}
    resets = {name: data for name, data in resets.items() if data}
    assert not problems and not resets, (
        f"sequence problems: {problems}; stream resets: {resets}; where: {details}"
    )
