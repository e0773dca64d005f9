"""Counting one Redis DB number's commands: MONITOR in a thread (client calls and Lua calls apart),
and INFO commandstats (server-wide)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import redis


class Monitor:
    """MONITOR in a thread: counts the commands of one DB number (client calls and Lua calls)."""

    STOP = "liveevents-bench-monitor-stop"

    def __init__(self, url: str, db: int, control: redis.Redis | None = None) -> None:
        self.url = url
        self.db = db
        # The benchmark's own control connection (CONFIG RESETSTAT, INFO) is not counted.
        self.control = control
        self.ignore_address = str(control.client_info()["addr"]) if control is not None else ""
        self.client_calls: Counter[str] = Counter()
        self.lua_calls: Counter[str] = Counter()
        self.other_dbs: Counter[str] = Counter()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> Monitor:
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("MONITOR did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        # Through the ignored control connection, so that stopping counts nothing.
        control = redis.Redis.from_url(self.url)
        if self.ignore_address:
            control.close()
            control = self.control
        control.echo(self.STOP)
        self.thread.join(timeout=20)

    def _run(self) -> None:
        client = redis.Redis.from_url(self.url, socket_timeout=120)
        try:
            with client.monitor() as monitor:
                self.ready.set()
                deadline = time.monotonic() + 600
                for entry in monitor.listen():
                    command = str(entry.get("command", ""))
                    if self.STOP in command:
                        return
                    name = command.split(" ", 1)[0].strip('"').lower()
                    if f"{entry.get('client_address')}:{entry.get('client_port')}" == self.ignore_address:
                        continue
                    if int(entry.get("db", -1)) != self.db:
                        self.other_dbs[f"{name} (db {entry.get('db')})"] += 1
                    elif entry.get("client_type") == "lua":
                        self.lua_calls[name] += 1
                    else:
                        self.client_calls[name] += 1
                    if time.monotonic() > deadline:
                        return
        except BaseException as error:
            self.error = error
            self.ready.set()
        finally:
            client.close()


def commandstats(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    result = {}
    for key, value in stats.items():
        name = key.removeprefix("cmdstat_")
        result[name] = int(value["calls"])
    return result


# SSE clients
