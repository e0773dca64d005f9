"""The slow client's side of benchmarks/slow_client.py: a socket with a small receive buffer that
reads nothing, what the kernel holds for it (ss), and reading a stream at last."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable

from benchmarks.support.event_stream import EventStreamResponse, event_id_number
from benchmarks.support.memory import Poller
from benchmarks.support.raw_http import stream_request

STREAM_PATH = "/events/flights/"


def socket_queues(port: int, client_port: int) -> str:
    """Kernel queues of the slow connection (ss): client Recv-Q and server Send-Q, in bytes."""
    both_ways = (
        f"( sport = :{client_port} and dport = :{port} ) or ( sport = :{port} and dport = :{client_port} )"
    )
    result = subprocess.run(["ss", "-tnH", "state", "all", both_ways], capture_output=True, text=True)
    parts = []
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        state, recv_q, send_q, local = fields[0], fields[1], fields[2], fields[3]
        side = "client" if local.endswith(f":{client_port}") else "server"
        parts.append(f"{side} {state} Recv-Q {recv_q} Send-Q {send_q}")
    return "; ".join(parts) or "(no socket)"


class ConnectionWatcher(Poller):
    """Polls the slow connection's kernel state (ss) every second; records each change with its time."""

    def __init__(self, server_port: int, client_port: int, t0: float) -> None:
        super().__init__()
        self.server_port = server_port
        self.client_port = client_port
        self.t0 = t0
        self.changes: list[tuple[float, str]] = []
        self.max_server_send_q = 0
        self._last: str | None = None

    def poll(self) -> None:
        state = socket_queues(self.server_port, self.client_port)
        for part in state.split("; "):
            if part.startswith("server"):
                with contextlib.suppress(ValueError, IndexError):
                    self.max_server_send_q = max(self.max_server_send_q, int(part.split()[-1]))
        summary = " / ".join(p.split(" Recv-Q")[0] for p in state.split("; "))
        if summary != self._last:
            self.changes.append((time.monotonic() - self.t0, state))
            self._last = summary


async def open_slow_socket(port: int, rcvbuf: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: fixes the window
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(stream_request(port, STREAM_PATH))
    sock.setblocking(False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            peeked = sock.recv(65536, socket.MSG_PEEK)
        except BlockingIOError:
            peeked = b""
        if b"retry:" in peeked:
            return sock
        if peeked and not peeked.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"slow client got {peeked[:80]!r}")
        await asyncio.sleep(0.05)
    raise RuntimeError("slow client: no retry line within 30 s")


async def read_events(
    receive: Callable[[], Awaitable[bytes]], final: int, *, idle: float, total: float
) -> dict[str, object]:
    """Read a stream until the final id, the end of its response, `idle` s of silence or `total` s."""
    response = EventStreamResponse()
    ids: list[int] = []
    resets = 0
    eof = False
    started = time.monotonic()
    while not response.complete and (not ids or ids[-1] < final):
        remaining = total - (time.monotonic() - started)
        if remaining <= 0:
            break
        try:
            chunk = await asyncio.wait_for(receive(), min(idle, remaining))
        except TimeoutError:
            break
        except OSError:
            eof = True
            break
        if not chunk:
            eof = True
            break
        for event in response.feed_events(chunk):
            if event.event == "streamReset":
                resets += 1
            elif (event_id := event_id_number(event)) is not None:
                ids.append(event_id)
    return {
        "ids": ids,
        "ended": response.complete or eof,
        "complete_response": response.complete,
        "eof": eof,
        "resets": resets,
        "bytes": response.body_bytes,
        "seconds": time.monotonic() - started,
        "status": response.status,
    }


async def read_slow(sock: socket.socket, final: int) -> dict[str, object]:
    """The slow client reads at last, from the socket that held everything meanwhile."""
    loop = asyncio.get_running_loop()
    return await read_events(lambda: loop.sock_recv(sock, 262144), final, idle=15.0, total=900.0)


async def read_after_reconnect(
    port: int, last_id: int, final: int, timeout: float = 120
) -> dict[str, object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(stream_request(port, STREAM_PATH, last_id))
    try:
        return await read_events(lambda: reader.read(262144), final, idle=timeout, total=timeout)
    finally:
        writer.close()
