"""A real daphne process serving the flightboard site, with its own var dir (SQLite, static, secret).

Used by the browser tests only. Nothing here touches the ORM of the test process: the site is
prepared and changed through `manage.py` subprocesses and HTTP.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
MANAGE = BASE_DIR / "manage.py"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_env(var_dir: Path) -> dict[str, str]:
    """The flightboard's real settings, embedded default (SQLite + in-memory layer), in `var_dir`."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_DEBUG", "CORS_ALLOWED_ORIGINS"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="flightboard.settings",
        DJANGO_VAR_DIR=str(var_dir),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def manage_in(var_dir: Path, *args: str, timeout: float = 60) -> str:
    """Run `manage.py ARGS` against `var_dir` in another process; return its stdout."""
    result = subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=BASE_DIR,
        env=site_env(var_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args[:1])} failed ({result.returncode}):\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result.stdout


def prepare_var_dir(var_dir: Path) -> str:
    """migrate, collectstatic, seed_flights, create_demo_admin; return the admin's password."""
    var_dir.mkdir(parents=True, exist_ok=True)
    manage_in(var_dir, "migrate", "--noinput", "-v", "0")
    manage_in(var_dir, "collectstatic", "--noinput", "-v", "0")
    manage_in(var_dir, "seed_flights")
    manage_in(var_dir, "create_demo_admin")
    return (var_dir / "admin-password.txt").read_text().strip()


def copy_var_dir(source: Path, target: Path) -> None:
    """A second site from a prepared one, without paying for migrate and collectstatic again.
    Only safe while no process has the source database open."""
    shutil.copytree(source, target)


class DaphneServer:
    """`python -m daphne -b 127.0.0.1 -p PORT flightboard.asgi:application`, stoppable and restartable."""

    def __init__(self, var_dir: Path, log_path: Path, port: int | None = None) -> None:
        self.var_dir = var_dir
        self.log_path = log_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = (var_dir / "admin-password.txt").read_text().strip()
        self.process: subprocess.Popen[bytes] | None = None

    # Processes

    def start(self, timeout: float = 30) -> None:
        assert self.process is None, "already running"
        with self.log_path.open("ab") as log:
            log.write(f"\n===== daphne starting on port {self.port} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "flightboard.asgi:application",
                ],
                cwd=BASE_DIR,
                env=site_env(self.var_dir),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"daphne exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                last_error = error
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"daphne did not answer within {timeout}s ({last_error}):\n{self.log_text()}")

    def stop(self, *, kill: bool = False, timeout: float = 5) -> None:
        """SIGTERM (or SIGKILL with kill=True), then SIGKILL if it lingers; wait for the exit."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        else:
            process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # Logs

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, since: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    # Writes from another process

    def manage(self, *args: str, timeout: float = 60) -> str:
        return manage_in(self.var_dir, *args, timeout=timeout)

    def shell(self, code: str) -> str:
        """`manage.py shell -c CODE`: Django code run in a separate process (its own ORM writes)."""
        return self.manage("shell", "--no-imports", "-c", code)
