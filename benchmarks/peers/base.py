"""What every peer is: a server (one or more processes) serving the flights stream at
/events/flights/, set up once per run, started and stopped per measurement."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

from benchmarks.bench_save import PING_PATH
from benchmarks.support.memory import tree_cpu_seconds, tree_rss_kib
from benchmarks.support.servers import ServerProcess

STREAM_PATH = "/events/flights/"
MAX_STREAMS = 30_000  # granian --backpressure, nginx worker_connections: above any N


def module_available(name: str) -> str | None:
    if importlib.util.find_spec(name) is None:
        return f"{name} is not installed (pip install -r benchmarks/requirements.txt)"
    return None


def publisher_command(*mode: str) -> list[str]:
    """benchmarks/publisher.py in one of its modes (--http URL, --django SAVER, --nchan URL)."""
    return [sys.executable, "-m", "benchmarks.publisher", *mode]


def tail(path: Path, lines: int = 10) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


class Peer:
    """A server (one or more processes) serving the flights stream at /events/flights/."""

    name = ""
    system = ""  # liveevents, django-eventstream, nchan
    server = ""  # daphne, uvicorn, granian, nginx
    store = ""  # what backs replay and fan-out
    publish_path = ""  # how events are published
    processes = 1
    # Per-stream integer ids ("17", or django-eventstream's "flights:17"): each client's are checked
    # for gaps and duplicates. Nchan's ids are timestamps.
    integer_ids = True

    def __init__(self) -> None:
        self.work: Path | None = None
        self.servers: list[ServerProcess] = []
        self.env: dict[str, str] = {}
        self.stack = contextlib.ExitStack()

    def unavailable(self) -> str | None:
        return None

    def setup(self, work: Path) -> None:
        """Once per peer and run: databases, migrations, the flight that the saves update."""
        self.work = work
        work.mkdir(parents=True, exist_ok=True)

    def teardown(self) -> None:
        self.stop()
        self.stack.close()

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        assert self.work is not None
        for index in range(self.processes):
            server = ServerProcess(
                f"{self.name}-{index}", self.command, self.env, self.work / f"server-{index}.log",
                ready_path=PING_PATH, children=True,
            )  # fmt: skip
            self.servers.append(server)
            server.start(timeout=60)

    def stop(self) -> None:
        servers, self.servers = self.servers, []
        for server in servers:
            server.stop(timeout=10)

    def alive(self) -> bool:
        return bool(self.servers) and all(server.running for server in self.servers)

    def rss_kib(self) -> int:
        return sum(tree_rss_kib(server.pid) for server in self.servers)

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's processes (not the publisher's, when separate)."""
        return sum(tree_cpu_seconds(server.pid) for server in self.servers)

    def targets(self) -> list[tuple[int, str]]:
        return [(server.port, STREAM_PATH) for server in self.servers]

    def publisher_command(self) -> tuple[list[str], dict[str, str]]:
        """In-server saves through the first process (HTTP), unless the peer says otherwise."""
        return publisher_command("--http", self.servers[0].url), self.env

    def logs(self) -> str:
        """The end of every server log of this peer's run (stopped servers' too)."""
        assert self.work is not None
        return "\n".join(tail(path) for path in sorted(self.work.glob("server-*.log")))
