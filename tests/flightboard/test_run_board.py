"""`run_board` (what `make run` calls) serves the site with daphne and a listen backlog of 4,096."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.support.servers import free_port
from benchmarks.support.sites import MANAGE, site_env
from flightboard.management.commands.run_board import daphne_command

pytestmark = pytest.mark.timeout(120)


def listen_backlog(port: int) -> int | None:
    """The accept queue's limit of the socket listening on `port` (ss's Send-Q), None if none is."""
    ss = shutil.which("ss")
    assert ss is not None, "ss (iproute2) is needed to read a socket's listen backlog"
    listing = subprocess.run([ss, "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True)
    lines = listing.stdout.splitlines()
    return int(lines[0].split()[2]) if lines else None


def test_run_board_listens_with_a_backlog_of_4096(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, str(MANAGE), "run_board", "--port", str(port), "--no-simulator"]
    with (tmp_path / "run_board.log").open("wb") as log:
        # Its own process group: the test ends run_board and the daphne it started together.
        board = subprocess.Popen(
            command,
            env=site_env(tmp_path / "var"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while (backlog := listen_backlog(port)) is None and time.monotonic() < deadline:
            assert board.poll() is None, (tmp_path / "run_board.log").read_text()
            time.sleep(0.2)
        somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())  # the kernel's cap
        assert backlog == min(4096, somaxconn)
    finally:
        os.killpg(board.pid, signal.SIGTERM)
        try:
            board.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(board.pid, signal.SIGKILL)
            board.wait()


@pytest.mark.parametrize(
    ("host", "endpoint"),
    [
        ("127.0.0.1", "tcp:port=8000:interface=127.0.0.1:backlog=4096"),
        ("::1", r"tcp:port=8000:interface=\:\:1:backlog=4096"),
        ("[::1]", r"tcp:port=8000:interface=\:\:1:backlog=4096"),
    ],
)
def test_daphne_endpoint_names_the_host_port_and_backlog(host: str, endpoint: str) -> None:
    assert daphne_command(host, 8000)[-3:] == ["-e", endpoint, "flightboard.asgi:application"]
