"""Child processes: run one to its end (checked, or with its output stamped line by line), talk
JSON lines with one, stop one (and what it forked), and have children die with their parent."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.support import BASE_DIR

PR_SET_PDEATHSIG = 1
# Loaded here, in the parent: between fork and exec the child should only make the one call.
_LIBC = ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    """In a child, before exec: be SIGKILLed when the parent dies, so that a killed test or
    benchmark run leaves no server behind. (The signal follows the thread that started the
    child: start long-lived children from the main thread.)"""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def stop_process(
    process: subprocess.Popen[Any], *, kill: bool = False, timeout: float = 5, children: bool = False
) -> None:
    """SIGTERM (SIGKILL with `kill`), then SIGKILL after `timeout`; reaped either way. With
    `children`, what it forked (granian's worker, nginx's) is ended too if it outlives it."""
    if process.poll() is not None:
        process.wait()
        return
    descendants = []
    if children:
        import psutil

        with contextlib.suppress(psutil.NoSuchProcess):
            descendants = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
    if descendants:
        import psutil

        for child in descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.terminate()
        _, alive = psutil.wait_procs(descendants, timeout=5)
        for child in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


@dataclass
class Output:
    """A finished process: return code, stdout lines with the wall time each was read, stderr."""

    returncode: int
    lines: list[tuple[float, str]]
    stderr: str

    @property
    def stdout(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def stamps(self, prefix: str) -> list[float]:
        """Times printed by the process itself on lines `PREFIX <time.time()> ...`."""
        return [float(line.split()[1]) for _, line in self.lines if line.startswith(prefix + " ")]


def _failed(command: Sequence[str], output: Output) -> RuntimeError:
    name = " ".join(command[1:4])
    return RuntimeError(
        f"{name} failed ({output.returncode}):\n--- stdout\n{output.stdout[-5000:]}\n"
        f"--- stderr\n{output.stderr[-5000:]}"
    )


def run_checked(command: Sequence[str], env: Mapping[str, str], *, timeout: float = 120) -> Output:
    """Run `command` in BASE_DIR to its end; RuntimeError with its output unless it exits 0."""
    result = subprocess.run(
        list(command), cwd=BASE_DIR, env=dict(env), capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    now = time.time()
    output = Output(result.returncode, [(now, line) for line in result.stdout.splitlines()], result.stderr)
    if result.returncode:
        raise _failed(command, output)
    return output


async def run_streamed(command: Sequence[str], env: Mapping[str, str], *, timeout: float = 180) -> Output:
    """`run_checked` without blocking the event loop (clients keep reading meanwhile); stdout
    lines are stamped as they arrive."""
    process = await asyncio.create_subprocess_exec(
        *command, cwd=BASE_DIR, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=die_with_parent,
    )  # fmt: skip
    lines: list[tuple[float, str]] = []

    async def read_stdout() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            lines.append((time.time(), raw.decode(errors="replace").rstrip("\n")))

    async def read_stderr() -> bytes:
        assert process.stderr is not None
        return await process.stderr.read()

    try:
        _, stderr, returncode = await asyncio.wait_for(
            asyncio.gather(read_stdout(), read_stderr(), process.wait()), timeout
        )
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    output = Output(returncode, lines, stderr.decode(errors="replace"))
    if returncode:
        raise _failed(command, output)
    return output


class LineProcess:
    """A child that answers one JSON line on stdout per JSON command on stdin, read with a
    timeout; its first line is a greeting. {"op": "quit"} ends it."""

    def __init__(self, command: list[str], name: str, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.process = subprocess.Popen(
            command, cwd=BASE_DIR, env=None if env is None else dict(env), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self.read(120)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def read(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"{self.name}: no answer within {timeout:.0f} s") from None
        if line is None:
            raise RuntimeError(f"{self.name} exited ({self.process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.name}: {answer['error']}")
        return answer

    def ask(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.read(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
