"""The benchmark's publisher process: publishes on command and reports (id, publish time) per event.

    .venv/bin/python -m benchmarks.publisher --http URL      # saves inside the server (POST
                                                               /__bench__/save), stamped at commit
    .venv/bin/python -m benchmarks.publisher --django SAVER  # saves here (DJANGO_SETTINGS_MODULE
                                                               from the environment), stamped at commit;
                                                               liveevents-publish: publish() alone
    .venv/bin/python -m benchmarks.publisher --nchan URL     # POSTs to Nchan's publisher location,
                                                               stamped just before each POST

One JSON command per line on stdin: {"count": K, "interval": S, "jitter": 0.5}; one JSON answer per
line on stdout: {"events": [[id, time], ...], "seconds": S} or {"error": "..."}. The i-th event is
due at start + i * interval; a late one goes at once, so the achieved rate is visible.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

MAX_LIFETIME = 4 * 3600


def publish_http(url: str, count: int, interval: float, jitter: float, max_seconds: float) -> list[list[Any]]:
    query = urllib.parse.urlencode(
        {"count": count, "interval": interval, "jitter": jitter, "max_seconds": max_seconds}
    )
    request = urllib.request.Request(f"{url}/__bench__/save?{query}", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=120 + count * max(interval, 0.05) * 2) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


class NchanPublisher:
    """POSTs to Nchan's publisher location over one keep-alive connection."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.sequence = 0

    def publish_one(self) -> list[Any]:
        self.sequence += 1
        body = json.dumps(
            {"flight": "BENCH1", "origin": "Benchmark", "arrival": "23:59", "state": "landing",
             "state_label": "Landing", "n": self.sequence}
        ).encode()  # fmt: skip
        headers = {
            "Accept": "text/json",
            "Content-Type": "application/json",
            "X-EventSource-Event": "flightStateUpdate",
        }
        sent = time.time()
        self.connection.request("POST", self.path, body=body, headers=headers)
        response = self.connection.getresponse()
        answer = response.read()
        if response.status not in (200, 201, 202):
            raise RuntimeError(f"Nchan answered {response.status}: {answer[:200]!r}")
        return [json.loads(answer)["last_message_id"], sent]

    def publish(self, count: int, interval: float, jitter: float, max_seconds: float) -> list[list[Any]]:
        import random

        events = []
        start = due = time.monotonic()
        for _ in range(count):
            if max_seconds and time.monotonic() - start > max_seconds:
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            events.append(self.publish_one())
            due += interval * (1 + random.uniform(-jitter, jitter)) if jitter else interval
        return events


def serve(publish: Any) -> None:
    print(json.dumps({"ready": True}), flush=True)
    deadline = time.monotonic() + MAX_LIFETIME
    for line in sys.stdin:
        if time.monotonic() > deadline:
            break
        command = json.loads(line)
        if command.get("op") == "quit":
            break
        started = time.monotonic()
        try:
            events = publish(
                int(command["count"]), float(command.get("interval", 0)),
                float(command.get("jitter", 0)), float(command.get("max_seconds", 0)),
            )  # fmt: skip
            answer: dict[str, Any] = {"events": events, "seconds": time.monotonic() - started}
        except Exception as error:
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), flush=True)


def serve_django(saver_name: str) -> None:
    """Saves in this process. The saves run in one sync_to_async thread under one event loop, so
    that liveevents' on-commit group_send (async_to_sync) reuses that loop and its Redis connection."""
    import django

    django.setup()
    from asgiref.sync import sync_to_async

    from benchmarks.bench_save import SAVERS, save_paced

    save = sync_to_async(SAVERS[saver_name], thread_sensitive=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        print(json.dumps({"ready": True}), flush=True)
        deadline = time.monotonic() + MAX_LIFETIME
        while time.monotonic() < deadline:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            command = json.loads(line)
            if command.get("op") == "quit":
                break
            started = time.monotonic()
            try:
                events = await save_paced(
                    save, int(command["count"]), float(command.get("interval", 0)),
                    float(command.get("jitter", 0)), float(command.get("max_seconds", 0)),
                )  # fmt: skip
                answer: dict[str, Any] = {"events": events, "seconds": time.monotonic() - started}
            except Exception as error:
                answer = {"error": f"{type(error).__name__}: {error}"}
            print(json.dumps(answer), flush=True)

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.publisher", description=__doc__.split("\n\n")[0]
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--http", metavar="URL", help="server base URL with /__bench__/save")
    mode.add_argument(
        "--django", metavar="SAVER", choices=["liveevents", "liveevents-publish", "eventstream"]
    )
    mode.add_argument("--nchan", metavar="URL", help="Nchan publisher URL")
    args = parser.parse_args()
    if args.http:
        serve(lambda *command: publish_http(args.http, *command))
    elif args.nchan:
        serve(NchanPublisher(args.nchan).publish)
    else:
        serve_django(args.django)


if __name__ == "__main__":
    main()
