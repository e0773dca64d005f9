"""A flightboard site for a test or a benchmark: its real settings in a var dir of its own, and
the commands run against it in other processes (`manage.py`, benchmarks.support.site_commands).

The harness's own process never uses the site's ORM: it prepares and changes the site through
these subprocesses and HTTP.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.support import BASE_DIR
from benchmarks.support.processes import Output, run_checked, run_streamed

MANAGE = BASE_DIR / "manage.py"
SITE_COMMANDS = "benchmarks.support.site_commands"
# Variables of the surrounding environment that would change what the site is: a site gets only
# the ones its `settings` give it.
SITE_VARIABLES = (
    "DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_DEBUG", "CORS_ALLOWED_ORIGINS",
    "DJANGO_HTTPS", "DJANGO_SECURE_PROXY_SSL_HEADER", "DJANGO_SSL_REDIRECT", "DJANGO_SECURE_COOKIES",
    "DJANGO_HSTS_SECONDS", "DJANGO_HSTS_INCLUDE_SUBDOMAINS", "DJANGO_HSTS_PRELOAD",
)  # fmt: skip


def site_env(
    var_dir: Path, settings: Mapping[str, str] | None = None, *, drop: tuple[str, ...] = ()
) -> dict[str, str]:
    """flightboard.settings in `var_dir`: the embedded default (SQLite + in-memory layer) unless
    `settings` (applied last) sets DATABASE_URL, REDIS_URL... `drop`: more variables not to pass on."""
    env = {k: v for k, v in os.environ.items() if k not in SITE_VARIABLES and k not in drop}
    env.update(
        DJANGO_SETTINGS_MODULE="flightboard.settings",
        DJANGO_VAR_DIR=str(var_dir),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(settings or {})
    return env


@dataclass
class Site:
    """flightboard's files (database unless DATABASE_URL, secret key, static files) in `var_dir`."""

    var_dir: Path
    settings: dict[str, str] = field(default_factory=dict)  # DATABASE_URL, REDIS_URL, LIVEEVENTS_CONFIG...
    drop: tuple[str, ...] = ()  # variables of the surrounding environment it must not see

    def env(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """Its environment as of now (a test may have just set LIVEEVENTS_CONFIG)."""
        return site_env(self.var_dir, {**self.settings, **(overrides or {})}, drop=self.drop)

    @property
    def password(self) -> str:
        """The demo admin's, written by create_demo_admin."""
        return (self.var_dir / "admin-password.txt").read_text().strip()

    def prepare(self, *, static: bool = True) -> str:
        """migrate, collectstatic (unless `static` is false), seed_flights, create_demo_admin;
        returns the admin's password."""
        self.var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.manage("migrate", "--noinput", "-v", "0")
        if static:
            self.manage("collectstatic", "--noinput", "-v", "0")
        self.manage("seed_flights")
        self.manage("create_demo_admin")
        return self.password

    def manage(self, *args: str, timeout: float = 120, env: Mapping[str, str] | None = None) -> str:
        """`manage.py ARGS` in another process; its stdout."""
        return run_checked([sys.executable, str(MANAGE), *args], self.env(env), timeout=timeout).stdout

    async def amanage(self, *args: str, timeout: float = 180, env: Mapping[str, str] | None = None) -> Output:
        return await run_streamed([sys.executable, str(MANAGE), *args], self.env(env), timeout=timeout)

    def command(
        self,
        *args: str,
        module: str = SITE_COMMANDS,
        timeout: float = 120,
        env: Mapping[str, str] | None = None,
    ) -> Output:
        """`python -m benchmarks.support.site_commands ARGS` (or another `module`): writes from
        another process."""
        return run_checked([sys.executable, "-m", module, *args], self.env(env), timeout=timeout)

    async def acommand(
        self,
        *args: str,
        module: str = SITE_COMMANDS,
        timeout: float = 180,
        env: Mapping[str, str] | None = None,
    ) -> Output:
        return await run_streamed([sys.executable, "-m", module, *args], self.env(env), timeout=timeout)
