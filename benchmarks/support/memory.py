"""Memory readings of server processes (VmRSS, VmHWM from /proc), once, summed over a process
tree, settled, or sampled in a thread while something runs."""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self


def vm_status_kib(pid: int, field: str = "VmRSS") -> int:
    """A field of /proc/<pid>/status in KiB: VmRSS (resident now), VmHWM (its high-water mark)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def rss_kib(pid: int) -> int:
    return vm_status_kib(pid, "VmRSS")


def tree_rss_kib(pid: int) -> int:
    """VmRSS of `pid` and all its descendants (nginx's workers, granian's worker), in KiB."""
    import psutil

    try:
        pids = [pid] + [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for one in pids:
        with contextlib.suppress(OSError, RuntimeError):
            total += rss_kib(one)
    return total


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and all its descendants (nginx's workers, granian's)."""
    import psutil

    try:
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def settled_kib(read: Callable[[], int], samples: int, interval: float = 0.2) -> int:
    """The median of `samples` readings `interval` apart: one reading catches allocator noise."""
    values = []
    for _ in range(samples):
        values.append(read())
        time.sleep(interval)
    return int(statistics.median(values))


class Poller:
    """Calls `poll()` every `interval` seconds in a thread, between `with` entry and exit (at most
    15 minutes)."""

    interval = 1.0

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        deadline = time.monotonic() + 900
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            self.poll()
            self.stop_event.wait(self.interval)

    def poll(self) -> None:
        raise NotImplementedError


class RssSampler(Poller):
    """Samples a process's VmRSS every `interval` seconds; keeps the maximum."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__()
        self.pid = pid
        self.interval = interval
        self.peak = 0

    def poll(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self.peak = max(self.peak, rss_kib(self.pid))
