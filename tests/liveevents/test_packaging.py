"""The release: an sdist and a wheel that twine accepts, holding liveevents alone, and a wheel that
serves a stream once installed into a fresh virtualenv with nothing of this repository on its path."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import django
import pytest

import liveevents
from liveevents.testing import EventStreamParser

ROOT = Path(__file__).resolve().parents[2]
WHEEL_PROJECT = Path(__file__).resolve().parent / "wheel_project"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build`: the sdist, then the wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True, capture_output=True
    )
    return out


def test_build_makes_one_sdist_and_one_wheel_that_twine_accepts(dist: Path) -> None:
    version = liveevents.__version__
    assert sorted(p.name for p in dist.iterdir()) == [
        f"liveevents-{version}-py3-none-any.whl",
        f"liveevents-{version}.tar.gz",
    ]
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_wheel_holds_liveevents_with_its_static_files_migrations_and_types(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "liveevents/__init__.py",
        "liveevents/publish.py",
        "liveevents/hub.py",
        "liveevents/views.py",
        "liveevents/migrations/0001_initial.py",
        "liveevents/static/liveevents/liveevents.js",
        "liveevents/static/liveevents/liveevents-htmx.js",
        "liveevents/rendering.py",
        "liveevents/templatetags/liveevents.py",
        "liveevents/management/commands/close_stream.py",
        "liveevents/testing/__init__.py",
        "liveevents/py.typed",
    ):
        assert expected in names
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"liveevents", f"liveevents-{liveevents.__version__}.dist-info"}
    assert f"liveevents-{liveevents.__version__}.dist-info/licenses/LICENSE" in names


def test_version_is_defined_once_in_the_package(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    metadata = zipfile.ZipFile(wheel).read(f"liveevents-{liveevents.__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {liveevents.__version__}\n" in metadata
    assert "Requires-Dist: Django<6.2,>=5.2" in metadata
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r'^version\s*=\s*"', pyproject, re.MULTILINE)  # only liveevents.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{liveevents.__version__}]" in changelog


def test_sdist_holds_the_package_and_nothing_of_the_site(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", "liveevents/static/liveevents/liveevents.js"} <= names
    assert not [
        n for n in names if n.startswith(("flightboard/", "tests/", "benchmarks/", "templates/", "static/"))
    ]


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv of this interpreter with the wheel, this Django release and daphne."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True)
    (wheel,) = dist.glob("*.whl")
    django_release = ".".join(django.__version__.split(".")[:2])
    subprocess.run(
        [
            home / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            str(wheel),
            f"Django=={django_release}.*",
            "daphne>=4.1,<5",
        ],  # fmt: skip
        check=True,
        capture_output=True,
    )
    return home


@pytest.fixture
def newsroom(installed: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The wheel project, copied away from this repository, migrated."""
    project = tmp_path / "project"
    shutil.copytree(WHEEL_PROJECT, project)
    env = {
        "PATH": f"{installed / 'bin'}:{os.environ['PATH']}",
        "DJANGO_SETTINGS_MODULE": "newsroom.settings",
        "NEWSROOM_DIR": str(tmp_path),
        "PYTHONPATH": str(project),
    }
    python = str(installed / "bin" / "python")
    subprocess.run([python, "-m", "django", "migrate", "--verbosity", "0"], check=True, cwd=project, env=env)
    return project, env


def test_installed_wheel_serves_a_stream_with_daphne(newsroom: tuple[Path, dict[str, str]]) -> None:
    project, env = newsroom
    python = env["PATH"].split(":")[0] + "/python"
    located = subprocess.run(
        [python, "-c", "import liveevents, django; print(liveevents.__file__); print(django.get_version())"],
        check=True, cwd=project, env=env, capture_output=True, text=True,
    )  # fmt: skip
    where, version = located.stdout.split()
    assert not Path(where).is_relative_to(ROOT)
    assert version.split(".")[:2] == django.__version__.split(".")[:2]
    checked = subprocess.run(
        [python, "-m", "django", "check", "--fail-level", "WARNING"], cwd=project, env=env
    )
    assert checked.returncode == 0

    log = project / "daphne.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [python, "-m", "daphne", "-e", "tcp:port=0:interface=127.0.0.1", "newsroom.asgi:application"],
            cwd=project, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        port = _listening_port(log, server)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/events/news/", headers={"Accept": "text/event-stream"})
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream; charset=utf-8"
        parser = EventStreamParser()
        parser.feed(response.read1())
        assert parser.retry == 2000
        # Published by another process: the in-memory layer cannot carry it, the hub's tick reads it.
        subprocess.run(
            [python, "-m", "django", "shell", "-c",
             "from liveevents.publish import publish; publish('news', 'headline', {'text': 'Hello'})"],
            check=True, cwd=project, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while not parser.events and time.monotonic() < deadline:
            parser.feed(response.read1())
        [event] = parser.events
        assert (event.event, event.json(), event.last_event_id) == ("headline", {"text": "Hello"}, "1")
        connection.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def _listening_port(log: Path, server: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(rb"Listening on TCP address 127\.0\.0\.1:(\d+)", log.read_bytes())
        if found:
            return int(found.group(1))
        if server.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"daphne did not start:\n{log.read_text(errors='replace')}")


def test_metrics_are_an_optional_extra(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    metadata = zipfile.ZipFile(wheel).read(f"liveevents-{liveevents.__version__}.dist-info/METADATA").decode()
    assert "Provides-Extra: metrics" in metadata
    requirements = [
        line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "prometheus" in line
    ]
    assert requirements == ['Requires-Dist: prometheus-client<1,>=0.20; extra == "metrics"']
    assert "liveevents/metrics.py" in zipfile.ZipFile(wheel).namelist()
