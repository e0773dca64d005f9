"""var/ (DJANGO_VAR_DIR) is its owner's alone: the folder 0700 and every file in it 0600, whoever
creates it, and a folder left open by an older version is closed at the next start.

Each test runs flightboard in other processes, started with the usual login umask (022), as
`make run`, a management command or daphne would be.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.support.sites import MANAGE, site_env

LOGIN_UMASK = 0o022

# Run by `manage.py shell` after migrate: a write, then the mode of everything in var/ while the
# connection is still open, so that SQLite's -wal and -shm files are there to be seen.
WRITE_AND_LIST = """
import datetime, json, stat
from django.conf import settings
from django.db import transaction
from flightboard.models import Flight
with transaction.atomic():
    Flight.objects.create(flight="P600", origin="Rome", arrival=datetime.time(10, 10))
var = settings.VAR_DIR
print(json.dumps({str(p.relative_to(var)): p.lstat().st_mode for p in [var, *var.rglob("*")]}))
"""


def run(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python ARGS` as flightboard in `var_dir`, under the login umask; it must succeed."""
    done = subprocess.run(
        [sys.executable, *args],
        env=site_env(var_dir),
        umask=LOGIN_UMASK,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def modes(var_dir: Path) -> dict[str, str]:
    return {
        str(path.relative_to(var_dir)): oct(stat.S_IMODE(path.lstat().st_mode))
        for path in [var_dir, *var_dir.rglob("*")]
    }


def test_a_var_dir_made_by_the_site_is_readable_by_its_owner_alone(tmp_path: Path) -> None:
    var_dir = tmp_path / "site" / "var"
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"], ["create_demo_admin"]):
        run(var_dir, str(MANAGE), *command)
    run(var_dir, str(MANAGE), "create_demo_users")
    listed = json.loads(run(var_dir, str(MANAGE), "shell", "--no-imports", "-c", WRITE_AND_LIST).stdout)

    expected_files = {"db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm", "secret_key"}
    expected_files |= {"admin-password.txt", "demo-users.txt"}
    assert expected_files <= set(listed), sorted(listed)
    assert any(name.startswith("static/admin/") for name in listed)
    wrong = {
        name: oct(stat.S_IMODE(mode))
        for name, mode in listed.items()
        if stat.S_IMODE(mode) != (0o700 if stat.S_ISDIR(mode) else 0o600)
    }
    assert wrong == {}
    assert oct(stat.S_IMODE((tmp_path / "site").stat().st_mode)) == "0o700"  # made for it as well


@pytest.mark.parametrize(
    "creator",
    [[str(MANAGE), "check"], ["-c", "import flightboard.asgi"]],
    ids=["management command", "server loading the site"],
)
def test_whoever_makes_var_dir_first_makes_it_private(tmp_path: Path, creator: list[str]) -> None:
    var_dir = tmp_path / "var"
    run(var_dir, *creator)
    assert modes(var_dir) == {".": "0o700", "secret_key": "0o600"}


def test_an_open_var_dir_is_closed_with_everything_in_it(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    (var_dir / "static" / "flightboard").mkdir(parents=True)
    outside = tmp_path / "shared.txt"
    outside.write_text("not var's")
    (var_dir / "static" / "flightboard" / "board.css").write_text("body {}")
    (var_dir / "secret_key").write_text("k" * 60)
    (var_dir / "db.sqlite3").write_bytes(b"")
    (var_dir / "link").symlink_to(outside)
    for path in [outside, *var_dir.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    var_dir.chmod(0o755)

    done = run(var_dir, str(MANAGE), "check")

    assert f"{var_dir} could be read by other users" in done.stderr
    found = modes(var_dir)
    assert found.pop("link") == "0o777"  # a link has no mode of its own
    assert found == {
        ".": "0o700",
        "static": "0o700",
        "static/flightboard": "0o700",
        "static/flightboard/board.css": "0o600",
        "secret_key": "0o600",
        "db.sqlite3": "0o600",
    }
    assert oct(stat.S_IMODE(outside.stat().st_mode)) == "0o644"  # what the link points to is left alone
    assert "could be read" not in run(var_dir, str(MANAGE), "check").stderr  # once
