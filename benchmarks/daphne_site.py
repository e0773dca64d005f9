"""A throwaway flightboard site for benchmarks: temp var dir, real settings, one server process
(daphne by default, or uvicorn)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
MANAGE = BASE_DIR / "manage.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_env(var_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """flightboard.settings, embedded default (SQLite + in-memory layer) in `var_dir`.

    `extra` is applied last, e.g. {"DATABASE_URL": ..., "REDIS_URL": ...} for PostgreSQL + Redis.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY")}
    env.update(
        DJANGO_SETTINGS_MODULE="flightboard.settings",
        DJANGO_VAR_DIR=str(var_dir),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


DEFAULT_APP = "flightboard.asgi:application"
# daphne listens with Twisted's default backlog of 50: in a reconnect storm the kernel then drops
# most SYNs and clients wait for retransmits (1 s, 3 s, 7 s...). Its endpoint syntax sets it.
DAPHNE_BACKLOG = 4096


def daphne_command(port: int, app: str = DEFAULT_APP) -> list[str]:
    endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog={DAPHNE_BACKLOG}"
    return [sys.executable, "-m", "daphne", "-e", endpoint, app]


def server_command(server: str, port: int, app: str = DEFAULT_APP) -> list[str]:
    """The command line that serves `app` on 127.0.0.1:`port` ("daphne" or "uvicorn")."""
    if server == "daphne":
        return daphne_command(port, app)
    if server == "uvicorn":
        return [
            sys.executable, "-m", "uvicorn", app,
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        ]  # fmt: skip
    raise ValueError(f"Unknown server {server!r}: use 'daphne' or 'uvicorn'.")


def rss_kib(pid: int) -> int:
    """Resident set size of process `pid` in KiB (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"No VmRSS for process {pid}.")


class Site:
    """One server process for flightboard.

    Defaults: daphne, embedded SQLite + in-memory layer, log in `var_dir`/../daphne.log.
    `env` adds environment (DATABASE_URL, REDIS_URL...), `server` may be "uvicorn", `log_name`
    separates the logs of several processes that share one var dir's parent, `app` is the ASGI
    application's "module:attribute" (imported with the repository root as working directory).
    """

    def __init__(
        self,
        var_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        server: str = "daphne",
        log_name: str | None = None,
        app: str = DEFAULT_APP,
    ) -> None:
        self.var_dir = var_dir
        self.server = server
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = site_env(var_dir, env)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = var_dir.parent / (log_name or f"{server}.log")

    @property
    def pid(self) -> int:
        assert self.process is not None, "the site is not started"
        return self.process.pid

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, str(MANAGE), *args], cwd=BASE_DIR, env=self.env, capture_output=True, text=True
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def prepare(self) -> str:
        """migrate, collectstatic, seed_flights, create_demo_admin; return the admin password."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")
        self.manage("seed_flights")
        self.manage("create_demo_admin")
        return (self.var_dir / "admin-password.txt").read_text().strip()

    def start(self, timeout: float = 30) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                server_command(self.server, self.port, self.app),
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.server} exited:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.server} did not answer:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
