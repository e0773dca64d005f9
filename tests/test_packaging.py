"""`pip install .` ships liveevents alone: code, migrations, the JS client; never flightboard."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_wheel_contains_liveevents_and_not_flightboard(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("liveevents-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "liveevents/publish.py",
        "liveevents/hub.py",
        "liveevents/views.py",
        "liveevents/migrations/0001_initial.py",
        "liveevents/static/liveevents/liveevents.js",
        "liveevents/templatetags/liveevents.py",
        "liveevents/management/commands/close_stream.py",
        "liveevents/py.typed",
    ):
        assert expected in names
    assert not [
        name for name in names if name.startswith(("flightboard/", "tests/", "templates/", "static/"))
    ]
