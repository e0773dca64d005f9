"""LayerLink: a hub's channel on the Channels layer, its group memberships and its receive loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from channels.layers import BaseChannelLayer

from liveevents.wakeup import group_name

logger = logging.getLogger(__name__)

# Seconds the hub waits for the layer to take a group change: one that hangs (a stopped Redis with
# no socket timeout) must not hold a stream's opening or a log check's catch-up behind it.
LAYER_TIMEOUT = 2.0
LAYER_CONCURRENCY = 50


class LayerLink:
    """One channel per hub, joined to one group per stream it follows. The layer only wakes the
    hub up; when it is down or drops messages, the hub still catches up from the log."""

    def __init__(self, layer: BaseChannelLayer | None) -> None:
        self.layer = layer
        self.channel: str | None = None
        # Group changes in flight at once: thousands of streams opened or left together must not
        # ask the layer for thousands of connections (channels_redis then refuses them).
        self._slots = asyncio.Semaphore(LAYER_CONCURRENCY)

    async def channel_name(self) -> str:
        if self.channel is None:
            assert self.layer is not None
            # types-channels gives BaseChannelLayer.new_channel() no `prefix`, as channels' base class
            # has none; every layer (in-memory, channels_redis's two) takes it.
            self.channel = await self.layer.new_channel(prefix="liveevents")  # type: ignore[call-arg]
        return self.channel

    async def join(self, stream: str) -> bool:
        """Join (or renew membership of) the stream's group; idempotent. False if the layer failed
        or did not answer within LAYER_TIMEOUT: the stream then follows the log alone for now."""
        return await self.join_group(group_name(stream))

    async def join_many(self, streams: Iterable[str], at_once: int = 100) -> None:
        """join() each stream, `at_once` of them concurrently: thousands of renewals take a few
        round trips' time, not thousands. A batch the layer answered none of ends it: a layer
        that hangs costs one LAYER_TIMEOUT, not one per batch."""
        names = list(streams)
        for start in range(0, len(names), at_once):
            joined = await asyncio.gather(*(self.join(name) for name in names[start : start + at_once]))
            if not any(joined):
                return

    async def join_group(self, group: str) -> bool:
        if self.layer is None:
            return True
        try:
            async with self._slots:
                await asyncio.wait_for(self.layer.group_add(group, await self.channel_name()), LAYER_TIMEOUT)
        except Exception:
            logger.warning("Channel layer unavailable; group %r follows the log only.", group, exc_info=True)
            return False
        return True

    async def leave(self, stream: str) -> None:
        await self.leave_group(group_name(stream))

    async def leave_group(self, group: str) -> None:
        if self.layer is None or self.channel is None:
            return
        try:
            async with self._slots:
                await asyncio.wait_for(self.layer.group_discard(group, self.channel), LAYER_TIMEOUT)
        except Exception:
            logger.warning("Could not leave group %r.", group, exc_info=True)

    async def leave_all(self, streams: Iterable[str], at_once: int = 100) -> None:
        """Leave every stream's group, `at_once` concurrently; a batch the layer answered none of
        ends it (the groups' expiry drops the rest)."""
        if self.layer is None or self.channel is None:
            return
        layer, channel = self.layer, self.channel

        async def leave(stream: str) -> bool:
            with contextlib.suppress(Exception):
                async with self._slots:
                    await asyncio.wait_for(layer.group_discard(group_name(stream), channel), LAYER_TIMEOUT)
                return True
            return False

        names = list(streams)
        for start in range(0, len(names), at_once):
            if not any(await asyncio.gather(*(leave(name) for name in names[start : start + at_once]))):
                return

    async def receive_forever(self, handle: Callable[[dict[str, Any]], None]) -> None:
        """Hand every message to `handle`; a failing layer is retried with backoff, for ever."""
        assert self.layer is not None
        delay = 0.1
        while True:
            try:
                message = await self.layer.receive(await self.channel_name())
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Channel layer receive failed; retrying in %.1fs.", delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            try:
                handle(message)
            except Exception:  # a message of another shape (a rolling deploy): the log covers it
                logger.warning("Could not handle a channel-layer message %r.", message, exc_info=True)
