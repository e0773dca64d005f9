"""Server processes on 127.0.0.1: a free port, the command lines that serve an ASGI application,
and ServerProcess: start, wait until it answers, signal, stop, restart on the same port, its log."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from benchmarks.support import BASE_DIR
from benchmarks.support.processes import die_with_parent, stop_process

FLIGHTBOARD_APP = "flightboard.asgi:application"

Command = Callable[[int], list[str]]  # port -> command line


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def daphne_command(port: int, app: str = FLIGHTBOARD_APP, *, backlog: int | None = None) -> list[str]:
    """daphne serving `app`; with its own listen backlog (Twisted's default is 50) if given."""
    if backlog is None:
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog={backlog}"
    return [sys.executable, "-m", "daphne", "-e", endpoint, app]


def uvicorn_command(port: int, app: str = FLIGHTBOARD_APP, *options: str) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", *options,
    ]  # fmt: skip


class ServerProcess:
    """A server on its own port of 127.0.0.1, its output appended to `log_path`. It answers once
    GET `ready_path` is 200; stop() and start() again keep the port."""

    def __init__(
        self,
        name: str,
        command: Command,
        env: Mapping[str, str],
        log_path: Path,
        *,
        port: int | None = None,
        ready_path: str = "/",
        children: bool = False,  # it forks workers: stop() ends them too
    ) -> None:
        self.name = name
        self.command = command
        self.env = dict(env)
        self.log_path = log_path
        self.port = port or free_port()
        self.ready_path = ready_path
        self.children = children
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, *, wait: bool = True, timeout: float = 60) -> None:
        """Start it; unless `wait` is false, return once it answers."""
        assert self.process is None, f"{self.name} is already running"
        with self.log_path.open("ab") as log:
            log.write(f"\n===== {self.name} starting on port {self.port} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(self.port), cwd=BASE_DIR, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
            )  # fmt: skip
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.answers():
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                last_error = error
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer within {timeout} s ({last_error}):\n{self.log_tail()}"
        )

    def answers(self) -> bool:
        with urllib.request.urlopen(self.url + self.ready_path, timeout=5) as response:
            return bool(response.status == 200)

    def stop(self, *, kill: bool = False, timeout: float = 5) -> None:
        """SIGTERM (SIGKILL with `kill`), SIGKILL if it lingers; returns once it exited."""
        process, self.process = self.process, None
        if process is not None:
            stop_process(process, kill=kill, timeout=timeout, children=self.children)

    def signal(self, signum: signal.Signals | int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, since: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_lines(self, pattern: str) -> list[str]:
        return [line for line in self.log_text().splitlines() if re.search(pattern, line)]
