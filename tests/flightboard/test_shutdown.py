"""SIGTERM to a real daphne process: streams end with a short retry first, nothing is cut off mid-air."""

from __future__ import annotations

import http.client
import signal
import time
from pathlib import Path

import pytest

from liveevents.testing.parser import EventStreamParser
from tests.flightboard.e2e.daphne_server import DaphneServer, prepare_var_dir

pytestmark = pytest.mark.timeout(90)


def test_sigterm_drains_streams_with_a_short_retry_then_exits(tmp_path: Path) -> None:
    prepare_var_dir(tmp_path / "var")
    server = DaphneServer(tmp_path / "var", tmp_path / "daphne.log")
    server.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/events/flights/", headers={"Accept": "text/event-stream"})
        response = connection.getresponse()
        assert response.status == 200
        parser = EventStreamParser()
        parser.feed(response.read1())
        assert parser.retry == 2000

        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        body = b""
        while chunk := response.read1():
            body += chunk
        ended = time.monotonic() - started
        parser.feed(body)
        # The stream ended cleanly (not reset) and told the browser to come back in 250 ms.
        assert parser.retry == 250
        assert ended < 2
        server.process.wait(timeout=10)
        assert server.process.returncode == 0
        assert "Killed 0 pending application instances" in server.log_text()
        connection.close()
    finally:
        server.stop()


def test_streams_opened_while_draining_are_refused_with_retry_after(tmp_path: Path) -> None:
    prepare_var_dir(tmp_path / "var")
    server = DaphneServer(tmp_path / "var", tmp_path / "daphne.log")
    server.start()
    try:
        first = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        first.request("GET", "/events/flights/", headers={"Accept": "text/event-stream"})
        first.getresponse().read1()
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        second = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        second.request("GET", "/events/flights/", headers={"Accept": "text/event-stream"})
        refused = second.getresponse()
        assert refused.status == 503
        assert refused.getheader("Retry-After") is not None
        first.close()
        second.close()
    finally:
        server.stop()
