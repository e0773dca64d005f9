"""liveevents' peers: flightboard's own ASGI application under daphne, uvicorn or granian (SQLite +
in-memory layer), and on two daphne processes with PostgreSQL + Redis."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from pathlib import Path

from benchmarks.bench_save import FLIGHT
from benchmarks.peers.base import MAX_STREAMS, Peer, module_available, publisher_command
from benchmarks.support.servers import daphne_command, uvicorn_command
from benchmarks.support.services import fresh_database, postgres_available, private_redis_db, redis_available
from benchmarks.support.sites import Site

# liveevents caps streams per process (MAX_CONNECTIONS, default 10,000); the benchmark's N can reach it.
# LIVEEVENTS_CONFIG in the benchmark's own environment adds settings, e.g. '{"METRICS": false}'.
LIVEEVENTS_CONFIG = json.dumps(
    {**json.loads(os.environ.get("LIVEEVENTS_CONFIG") or "{}"), "MAX_CONNECTIONS": 100_000}
)
# daphne listens with Twisted's default backlog of 50: in a reconnect storm the kernel then drops
# most SYNs and clients wait for retransmits (1 s, 3 s, 7 s...). liveevents' daphne gets this one.
LIVEEVENTS_BACKLOG = 4096


class LiveeventsPeer(Peer):
    system = "liveevents"
    store = "SQLite + InMemoryChannelLayer"
    publish_path = "Flight.save() in the server process (admin-style), stamped at commit"

    def __init__(self, server: str) -> None:
        super().__init__()
        self.server = server
        self.name = f"liveevents-{server}"

    def unavailable(self) -> str | None:
        return module_available(self.server)

    def site(self, settings: dict[str, str]) -> Site:
        assert self.work is not None
        return Site(
            self.work / "var",
            {"LIVEEVENTS_CONFIG": LIVEEVENTS_CONFIG, "DJANGO_LOG_LEVEL": "WARNING", **settings},
        )

    # The migrated SQLite var dir of the run's first such peer; the others copy it.
    _template: Path | None = None
    _template_lock = threading.Lock()

    def setup(self, work: Path) -> None:
        super().setup(work)
        site = self.site({})
        self.env = site.env()
        with LiveeventsPeer._template_lock:
            template = LiveeventsPeer._template
            if template is None or not template.exists():
                self.migrate(site)
                template = work.parent / "liveevents-sqlite-template"
                shutil.copytree(work / "var", template, dirs_exist_ok=True)
                LiveeventsPeer._template = template
                return
        shutil.copytree(template, work / "var", dirs_exist_ok=True)

    @staticmethod
    def migrate(site: Site) -> None:
        site.manage("migrate", "--noinput", "-v", "0", timeout=300)
        site.manage("seed_flights", timeout=300)
        site.command("create-flight", FLIGHT)

    def command(self, port: int) -> list[str]:
        app = "benchmarks.liveevents_asgi:application"
        if self.server == "daphne":
            return daphne_command(port, app, backlog=LIVEEVENTS_BACKLOG)
        if self.server == "uvicorn":
            return uvicorn_command(
                port,
                app,
                "--http",
                "httptools",
                "--loop",
                "uvloop",
                "--lifespan",
                "off",
                "--log-level",
                "warning",
            )
        if self.server == "granian":
            # --backpressure: granian serves at most backlog/workers (1024) requests at once by default.
            return [
                sys.executable, "-m", "granian", "--interface", "asginl", "--host", "127.0.0.1",
                "--port", str(port), "--workers", "1", "--backpressure", str(MAX_STREAMS),
                "--log-level", "warning", "--no-ws", app,
            ]  # fmt: skip
        raise ValueError(self.server)


class LiveeventsRedisPeer(LiveeventsPeer):
    store = "PostgreSQL + channels_redis, 2 processes"
    publish_path = "Flight.save() in a separate process, stamped at commit"
    processes = 2
    saver = "liveevents"  # benchmarks.bench_save.SAVERS

    def __init__(self) -> None:
        super().__init__("daphne")
        self.name = "liveevents-redis"

    def unavailable(self) -> str | None:
        return redis_available() or postgres_available()

    def setup(self, work: Path) -> None:
        Peer.setup(self, work)
        database = self.stack.enter_context(fresh_database("bench_run_liveevents"))
        redis_url = self.stack.enter_context(private_redis_db())
        site = self.site({"DATABASE_URL": database, "REDIS_URL": redis_url})
        self.env = site.env()
        self.migrate(site)

    def publisher_command(self) -> tuple[list[str], dict[str, str]]:
        return publisher_command("--django", self.saver), self.env


class LiveeventsExternalPublisherPeer(LiveeventsPeer):
    """One server process (daphne, uvicorn or granian) and the publisher in another process,
    waking it through Redis: the log stays in SQLite, which both processes share. The publisher
    calls publish() alone (the flight's event, no save): a Flight.save() with flightboard's four
    bindings, its HTML fragments included, takes some 16 ms, and would cap the rate at about 60
    events a second whatever the server; the in-process peers measure saves."""

    store = "SQLite + channels_redis"
    publish_path = (
        "publish() of the flight's event in a separate process, stamped at commit, woken through Redis"
    )
    saver = "liveevents-publish"

    def __init__(self, server: str) -> None:
        super().__init__(server)
        self.name = f"liveevents-{server}-redis"

    def unavailable(self) -> str | None:
        return super().unavailable() or redis_available()

    def setup(self, work: Path) -> None:
        super().setup(work)
        redis_url = self.stack.enter_context(private_redis_db())
        self.env = self.site({"REDIS_URL": redis_url}).env()

    def publisher_command(self) -> tuple[list[str], dict[str, str]]:
        return publisher_command("--django", self.saver), self.env
