"""What a measurement ran on: cores, CPU, memory, kernel, load, and the versions of what it ran."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

NGINX = "/usr/sbin/nginx"
PACKAGES = (
    "Django", "channels", "channels-redis", "daphne", "Twisted", "uvicorn", "h11", "httptools", "uvloop",
    "granian", "django-eventstream", "redis", "psycopg", "matplotlib",
)  # fmt: skip


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cores": os.cpu_count()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    info["kernel"] = platform.release()
    info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Python, the installed packages among `packages`, and the servers on this machine."""
    out: dict[str, str] = {"python": sys.version.split()[0]}
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[package] = metadata.version(package)
    if Path(NGINX).exists():
        result = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
        out["nginx"] = (result.stderr or result.stdout).strip().split("/")[-1]
    if shutil.which("dpkg-query"):
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-nchan"], capture_output=True, text=True
        )
        if result.returncode == 0:
            out["nchan (Debian package)"] = result.stdout.strip()
    if shutil.which("redis-server"):
        result = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        out["redis-server"] = result.stdout.split()[2].removeprefix("v=") if result.stdout else "?"
    with contextlib.suppress(Exception):
        import psycopg

        from benchmarks.support.services import PG_ADMIN

        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            out["postgresql"] = str(row[0]) if row else "?"
    return out


def describe(packages: Iterable[str] = PACKAGES) -> list[str]:
    """Two lines to print above a measurement: the machine, then the versions."""
    m = machine()
    return [
        f"machine: {m['cores']} cores ({m.get('cpu', '?')}), {m.get('memory_gib', '?')} GiB memory, "
        f"Linux {m['kernel']}, load average {m['load_average']}",
        "versions: " + ", ".join(f"{name} {version}" for name, version in versions(packages).items()),
    ]
