"""Draining on SIGTERM: every open stream is told to come back soon, then the server shuts down."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import weakref
from types import FrameType
from typing import Protocol


class Drainable(Protocol):
    shutdown_drain: float | None

    def has_streams(self) -> bool: ...

    def drain(self) -> None: ...


_watched: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Drainable] = weakref.WeakKeyDictionary()
_installed = False


def drain_on_sigterm(loop: asyncio.AbstractEventLoop, hub: Drainable) -> None:
    """Drain `hub` (on `loop`) when SIGTERM comes. The handler is installed once, from the main
    thread; it drains every watched hub, then hands the signal to the server's own handler
    (daphne's, uvicorn's, or the default) once the drain delay has passed."""
    global _installed
    _watched[loop] = hub
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def chain(signum: int) -> None:
        if callable(previous):
            previous(signum, None)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        delays: list[tuple[asyncio.AbstractEventLoop, float]] = []
        for watched_loop, watched in list(_watched.items()):
            if watched.has_streams() and not watched_loop.is_closed():
                watched_loop.call_soon_threadsafe(watched.drain)
                delays.append((watched_loop, watched.shutdown_drain or 0))
        if not delays:
            chain(signum)
            return
        first_loop, delay = delays[0]
        first_loop.call_soon_threadsafe(first_loop.call_later, delay, chain, signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    _installed = True
