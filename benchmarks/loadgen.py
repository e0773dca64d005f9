"""Load generator: thousands of SSE streams on raw asyncio sockets, in a process of its own.

    .venv/bin/python -m benchmarks.loadgen        (driven by benchmarks.run through stdin/stdout)

One JSON command per line on stdin, one JSON answer per line on stdout:

  {"op": "connect", "group": "g", "n": 1000, "targets": [[port, path], ...], "concurrency": 200,
   "timeout": 60, "last_event_id": null, "expect": null, "reconnect": true}
      Opens n streams (round-robin over targets), at most `concurrency` connecting at a time.
      A stream counts as open once its status line is 200 and its first body bytes arrived.
      With `expect` (a list of ids), also waits until every client has received all of them
      (the reconnect storm: every client sends `last_event_id` and must get its replay).
  {"op": "mark", "group": "g"}                  forget what was received so far
  {"op": "collect", "group": "g", "published": [[id, t], ...], "timeout": 30, "contiguous": true}
      Waits until every client has the last published id (or the timeout), then reports receipt
      latencies (receive time - publish time, one machine clock), events lost, duplicates and,
      with "contiguous" (integer ids, or "channel:integer"), whether each client's ids are
      contiguous.
  {"op": "close", "group": "g"}                 closes the group's streams
  {"op": "quit"}

Each client behaves like EventSource (it reads with liveevents' WHATWG parser): when a stream ends
or fails it reconnects (after `reconnect_delay` seconds) with Last-Event-ID set to the last event
id it received. It records the benchmark's event (flightStateUpdate) and counts stream resets.
Receive times are time.time() when the bytes carrying an event were read. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import socket
import sys
import time
from collections import Counter
from typing import Any

from benchmarks.loadgen_streams import HOST, Client, StreamProtocol, error_kind
from benchmarks.support.limits import raise_open_files
from benchmarks.support.stats import percentile, summarise

MAX_LIFETIME = 4 * 3600  # seconds: the process ends by itself after this, whatever happens


def sequence_number(event_id: str) -> int:
    """The integer of an id: liveevents' "17", or django-eventstream's "flights:17"."""
    return int(event_id.rsplit(":", 1)[-1])


class Group:
    def __init__(self) -> None:
        self.clients: list[Client] = []


class LoadGenerator:
    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.reconnect_delay = 1.0
        self.max_attempts = 30

    async def run_client(
        self, client: Client, gate: asyncio.Semaphore, timeout: float, ready: asyncio.Future[None]
    ) -> None:
        loop = asyncio.get_running_loop()
        while not client.stopping and client.attempts < self.max_attempts:
            if client.attempts:
                client.reconnects += 1
                await asyncio.sleep(self.reconnect_delay)
                if client.stopping:
                    return
            client.attempts += 1
            opened: asyncio.Future[str] = loop.create_future()
            closed: asyncio.Future[None] = loop.create_future()
            async with gate:
                try:
                    await asyncio.wait_for(
                        loop.create_connection(
                            functools.partial(StreamProtocol, client, opened, closed), HOST, client.port
                        ),
                        timeout,
                    )
                    result = await asyncio.wait_for(opened, timeout)
                except (TimeoutError, OSError) as error:
                    result = error_kind(error)
                    if client.transport is not None:
                        client.transport.abort()
            if result != "ok":
                client.errors[result] += 1
                if not client.reconnect:
                    break
                continue
            client.opened_at = time.monotonic()
            if not ready.done():
                ready.set_result(None)
            await closed
            if client.stopping:
                return
            client.errors["stream-ended"] += 1
            if not client.reconnect:
                return
        if not ready.done():
            ready.set_result(None)

    async def connect(self, command: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.setdefault(command["group"], Group())
        n = int(command["n"])
        targets = [(int(port), str(path)) for port, path in command["targets"]]
        gate = asyncio.Semaphore(int(command.get("concurrency") or n))
        timeout = float(command.get("timeout", 60))
        expect = [str(key) for key in command.get("expect") or []]
        reconnect = bool(command.get("reconnect", True))
        self.reconnect_delay = float(command.get("reconnect_delay", 1.0))
        clients = [
            Client(*targets[i % len(targets)], command.get("last_event_id"), reconnect) for i in range(n)
        ]
        group.clients.extend(clients)
        loop = asyncio.get_running_loop()
        readies = []
        started = time.monotonic()
        for client in clients:
            ready: asyncio.Future[None] = loop.create_future()
            readies.append(ready)
            client.task = asyncio.create_task(self.run_client(client, gate, timeout, ready))
        deadline = started + float(command.get("deadline", 600))
        # Open: every client either streaming or given up (out of attempts, or no reconnect).
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*readies), max(1.0, deadline - time.monotonic()))
        open_seconds = time.monotonic() - started
        opened = [c for c in clients if c.opened_at is not None]
        answer: dict[str, Any] = {
            "n": n,
            "connected": len(opened),
            "failed": n - len(opened),
            "seconds": open_seconds,
            "rate": len(opened) / open_seconds if open_seconds > 0 else None,
            "errors": dict(sum((c.errors for c in clients), Counter())),
            "attempts": sum(c.attempts for c in clients),
        }
        if expect:
            wanted = set(expect)
            done_at: dict[int, float] = {}
            while time.monotonic() < deadline:
                for index, client in enumerate(clients):
                    if index not in done_at and wanted.issubset(client.received):
                        done_at[index] = time.monotonic() - started
                if len(done_at) == n:
                    break
                await asyncio.sleep(0.05)
            times = sorted(done_at.values())
            answer.update(
                complete=len(done_at),
                all_seconds=times[-1] if len(times) == n else None,
                complete_p50=percentile(times, 50) if times else None,
                complete_p99=percentile(times, 99) if times else None,
                errors=dict(sum((c.errors for c in clients), Counter())),
                resets=sum(c.resets for c in clients),
                received=sum(len(wanted.intersection(c.received)) for c in clients),
            )
        return answer

    def mark(self, command: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.get(command["group"], Group())
        for client in group.clients:
            client.records = []
            client.received = {}
            client.errors = Counter()
            client.reconnects = 0
            client.resets = 0
        return {"clients": len(group.clients)}

    async def collect(self, command: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.get(command["group"], Group())
        published = [(str(key), float(t)) for key, t in command["published"]]
        clients = group.clients
        timeout = float(command.get("timeout", 30))
        started = time.monotonic()
        if published:
            last = published[-1][0]
            while time.monotonic() - started < timeout:
                if all(last in client.received for client in clients):
                    break
                await asyncio.sleep(0.05)
        waited = time.monotonic() - started
        latencies: list[float] = []
        per_event_max: list[float] = []
        missing = duplicates = complete = contiguous = silent = 0
        integer_ids = bool(command.get("contiguous"))
        keys = [key for key, _ in published]
        for key, t in published:
            worst = 0.0
            for client in clients:
                at = client.received.get(key)
                if at is not None:
                    latency = (at - t) * 1000
                    latencies.append(latency)
                    worst = max(worst, latency)
            per_event_max.append(worst)
        for client in clients:
            got = [k for k in keys if k in client.received]
            missing += len(keys) - len(got)
            silent += not got
            complete += len(got) == len(keys)
            seen = [event_id for event_id, _ in client.records]
            duplicates += len(seen) - len(set(seen))
            if integer_ids and keys:
                try:
                    ids = [sequence_number(event_id) for event_id in seen]
                except ValueError:
                    continue
                first = sequence_number(keys[0])
                contiguous += ids == list(range(first, first + len(ids))) and len(ids) >= len(keys)
        return {
            "clients": len(clients),
            "events": len(published),
            "expected": len(clients) * len(published),
            "received": len(latencies),
            "missing": missing,
            "duplicates": duplicates,
            "clients_complete": complete,
            "silent_clients": silent,  # received none of the events
            "clients_contiguous": contiguous if integer_ids else None,
            "waited": waited,
            "latency_ms": summarise(latencies),
            "per_event_max_ms": per_event_max,
            "errors": dict(sum((c.errors for c in clients), Counter())),
            "reconnects": sum(c.reconnects for c in clients),
            "resets": sum(c.resets for c in clients),
            "open": sum(1 for c in clients if c.transport is not None),
        }

    async def close(self, command: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.pop(command["group"], Group())
        for client in group.clients:
            client.stopping = True
            if client.transport is not None:
                client.transport.close()
        tasks = [c.task for c in group.clients if c.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        return {"closed": len(group.clients)}


async def serve() -> None:
    limit = raise_open_files()[0]
    generator = LoadGenerator()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True, "nofile": limit, "pid": os.getpid()}), flush=True)
    deadline = time.monotonic() + MAX_LIFETIME
    while time.monotonic() < deadline:
        line = await reader.readline()
        if not line:
            break
        command = json.loads(line)
        op = command.get("op")
        try:
            if op == "connect":
                answer = await generator.connect(command)
            elif op == "mark":
                answer = generator.mark(command)
            elif op == "collect":
                answer = await generator.collect(command)
            elif op == "close":
                answer = await generator.close(command)
            elif op == "quit":
                print(json.dumps({"bye": True}), flush=True)
                break
            else:
                answer = {"error": f"unknown op {op!r}"}
        except Exception as error:  # answered, so that the driver never waits forever
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), flush=True)
    for name in list(generator.groups):
        await generator.close({"group": name})


def main() -> None:
    argparse.ArgumentParser(
        prog="python -m benchmarks.loadgen",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args()
    socket.setdefaulttimeout(30)
    asyncio.run(serve())


if __name__ == "__main__":
    main()
