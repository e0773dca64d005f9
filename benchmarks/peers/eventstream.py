"""django-eventstream's peers: its documented setup under daphne (DjangoModelStorage in SQLite), and
its Redis mode on two processes (SQLite, or PostgreSQL)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from benchmarks.bench_save import FLIGHT
from benchmarks.peers.base import Peer, module_available, publisher_command
from benchmarks.support.processes import run_checked
from benchmarks.support.servers import daphne_command
from benchmarks.support.services import fresh_database, postgres_available, private_redis_db, redis_available
from benchmarks.support.sites import SITE_COMMANDS


class EventstreamPeer(Peer):
    system = "django-eventstream"
    server = "daphne"
    store = "SQLite (DjangoModelStorage), local listeners"
    publish_path = "Flight.save() in the server process (admin-style), send_event on commit"

    def __init__(self, redis: bool = False, postgres: bool = False) -> None:
        super().__init__()
        self.redis = redis
        self.postgres = postgres
        self.name = "eventstream-daphne"
        if redis:
            # SQLite by default: on PostgreSQL every open stream holds a database connection (its
            # request thread's, until the response ends), so it stops at max_connections (100).
            self.name = "eventstream-redis-pg" if postgres else "eventstream-redis"
            database = "PostgreSQL" if postgres else "SQLite"
            self.store = f"{database} (DjangoModelStorage) + Redis pub/sub, 2 processes"
            self.publish_path = "Flight.save() in a separate process, send_event on commit"
            self.processes = 2

    def unavailable(self) -> str | None:
        missing = module_available("django_eventstream")
        if missing or not self.redis:
            return missing
        return redis_available() or (postgres_available() if self.postgres else None)

    def setup(self, work: Path) -> None:
        super().setup(work)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE="benchmarks.eventstream_site.settings",
            EVENTSTREAM_VAR_DIR=str(work / "var"),
            PYTHONUNBUFFERED="1",
            DJANGO_LOG_LEVEL="WARNING",
        )
        if self.postgres:
            env["DATABASE_URL"] = self.stack.enter_context(fresh_database("bench_run_eventstream"))
        if self.redis:
            env["REDIS_URL"] = self.stack.enter_context(private_redis_db())
        self.env = env
        run_checked([sys.executable, "-m", "django", "migrate", "--run-syncdb", "--noinput", "-v", "0"], env,
                    timeout=300)  # fmt: skip
        run_checked([sys.executable, "-m", SITE_COMMANDS, "create-flight", FLIGHT, "--model",
                     "eventstream_site.Flight"], env)  # fmt: skip

    def command(self, port: int) -> list[str]:
        # daphne's default listen backlog (50), unlike liveevents' 4,096: the kernel then meters a
        # reconnect storm, which django-eventstream needs. With 4,096 the whole storm reaches its
        # views at once and they time out (a trial: 0 of 1,000 replayed within 120 s).
        return daphne_command(port, "benchmarks.eventstream_site.asgi:application")

    def publisher_command(self) -> tuple[list[str], dict[str, str]]:
        if not self.redis:
            return super().publisher_command()
        return publisher_command("--django", "eventstream"), self.env
