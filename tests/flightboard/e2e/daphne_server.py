"""The browser tests' site: one daphne process serving flightboard with its real settings (SQLite +
in-memory layer) in a var dir of its own; benchmarks.support does the work.

Nothing here touches the ORM of the test process: the site is prepared and changed through
`manage.py` subprocesses and HTTP.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.support.servers import ServerProcess, daphne_command
from benchmarks.support.sites import Site


def prepare_var_dir(var_dir: Path) -> str:
    """migrate, collectstatic, seed_flights, create_demo_admin; return the admin's password."""
    return Site(var_dir).prepare()


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

    def manage(self, *args: str, timeout: float = 60) -> str:
        return self.site.manage(*args, timeout=timeout)

    def shell(self, code: str) -> str:
        """`manage.py shell -c CODE`: Django code run in a separate process (its own ORM writes)."""
        return self.manage("shell", "--no-imports", "-c", code)
