"""The browser tests' site: one daphne process serving flightboard with its real settings (SQLite +
in-memory layer) in a var dir of its own, with the demo admin and demo users; benchmarks.support
does the work.

Nothing here touches the ORM of the test process: the site is prepared and changed through
`manage.py` subprocesses and HTTP.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.support.servers import ServerProcess, daphne_command
from benchmarks.support.sites import Site


def prepare_var_dir(var_dir: Path) -> str:
    """migrate, collectstatic, seed_flights, create_demo_admin, create_demo_users; return the
    admin's password."""
    site = Site(var_dir)
    password = site.prepare()
    site.manage("create_demo_users")
    return password


def copy_var_dir(source: Path, target: Path) -> None:
    """A second site from a prepared one, without paying for migrate and collectstatic again.
    Only safe while no process has the source database open."""
    shutil.copytree(source, target)


class DaphneServer(ServerProcess):
    """`python -m daphne -b 127.0.0.1 -p PORT flightboard.asgi:application`, stoppable and restartable."""

    def __init__(self, var_dir: Path, log_path: Path, port: int | None = None) -> None:
        self.site = Site(var_dir)
        super().__init__("daphne", daphne_command, {}, log_path, port=port)
        self.password = self.site.password

    def start(self, *, wait: bool = True, timeout: float = 30) -> None:
        self.env = self.site.env()  # as the environment is now: a test may have set LIVEEVENTS_CONFIG
        super().start(wait=wait, timeout=timeout)

    def demo_password(self, username: str) -> str:
        """A demo user's password, written by create_demo_users."""
        for line in (self.site.var_dir / "demo-users.txt").read_text().splitlines():
            name, _, password = line.partition(" ")
            if name == username:
                return password
        raise LookupError(f"No demo user {username!r}")

    def manage(self, *args: str, timeout: float = 60) -> str:
        return self.site.manage(*args, timeout=timeout)

    def shell(self, code: str) -> str:
        """`manage.py shell -c CODE`: Django code run in a separate process (its own ORM writes)."""
        return self.manage("shell", "--no-imports", "-c", code)
