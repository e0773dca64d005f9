"""LayerLink: a channel layer that fails or hangs costs streams their wake-ups, never their events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, channel_layers

from liveevents import layer as layer_module
from liveevents.hub import StreamHub
from liveevents.publish import publish
from liveevents.wakeup import group_name
from tests.conftest import restart_hub
from tests.liveevents.asgi_client import open_stream
from tests.notes.models import Bulletin

pytestmark = pytest.mark.django_db(transaction=True)


class HungLayer(BaseChannelLayer):
    """A cross-process layer that never answers a group change or a receive, as a stopped Redis
    with no socket timeout, and loses what it is sent."""

    group_adds = 0

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)

    async def new_channel(self, prefix: str = "specific.") -> str:
        return f"{prefix}.hung!1"

    async def group_add(self, group: str, channel: str) -> None:
        HungLayer.group_adds += 1
        await asyncio.Event().wait()

    async def group_discard(self, group: str, channel: str) -> None:
        await asyncio.Event().wait()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        pass  # taken, and lost: the wake-ups the hub never hears of

    async def flush(self) -> None:
        pass

    async def receive(self, channel: str) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_hung_layer_delays_a_stream_by_a_log_check_not_for_ever(
    hub: StreamHub, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layer_module, "LAYER_TIMEOUT", 0.2)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.liveevents.test_layer.HungLayer"}}
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 0.3}
    hub = await restart_hub(hub)
    HungLayer.group_adds = 0
    started = time.monotonic()
    response = await open_stream("/events/bulletins/")  # its group_add never answers
    await response.read_until(lambda r: r.parser.retry is not None, timeout=2)
    assert time.monotonic() - started < 1.5
    await sync_to_async(Bulletin.objects.create)(text="while the layer hangs")
    await sync_to_async(publish)("bulletins", "tick", "and another")
    # No wake-up can come: the log checks deliver both, each re-joining (and timing out) first.
    await response.read_events(2, timeout=3)
    assert response.ids == [1, 2]
    assert HungLayer.group_adds >= 2
    await response.disconnect()
    await asyncio.wait_for(hub.aclose(), 2)


class CountingLayer(InMemoryChannelLayer):
    """The in-memory layer, counting how many group changes are in flight at once."""

    in_flight = 0
    most = 0

    async def _counted(self, change: Any) -> None:
        CountingLayer.in_flight += 1
        CountingLayer.most = max(CountingLayer.most, CountingLayer.in_flight)
        try:
            await asyncio.sleep(0.001)
            await change
        finally:
            CountingLayer.in_flight -= 1

    async def group_add(self, group: str, channel: str) -> None:
        await self._counted(super().group_add(group, channel))

    async def group_discard(self, group: str, channel: str) -> None:
        await self._counted(super().group_discard(group, channel))


async def test_streams_opened_and_left_together_ask_the_layer_a_bounded_number_at_once(
    hub: StreamHub, settings: Any
) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.liveevents.test_layer.CountingLayer"}}
    hub = await restart_hub(hub)
    CountingLayer.most = 0
    names = tuple(f"x{n}" for n in range(layer_module.LAYER_CONCURRENCY * 3))
    subscriptions = await asyncio.gather(*(hub.subscribe((name,)) for name in names))
    layer = channel_layers["default"]
    assert all(hub.link.channel in layer.groups[group_name(name)] for name in names)
    for subscription in subscriptions:
        hub.unsubscribe(subscription)
    deadline = time.monotonic() + 5
    while any(hub.link.channel in layer.groups.get(group_name(name), {}) for name in names):
        assert time.monotonic() < deadline, "the hub did not leave every group"
        await asyncio.sleep(0.01)
    assert 1 < CountingLayer.most <= layer_module.LAYER_CONCURRENCY
    await hub.aclose()


async def test_a_message_the_hub_cannot_read_does_not_stop_it_hearing_the_next(
    hub: StreamHub, settings: Any
) -> None:
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 60, "HEARTBEAT": 120}  # no log check to help
    hub = await restart_hub(hub)
    response = await open_stream("/events/bulletins/")
    await response.read_until(lambda r: r.parser.retry is not None, timeout=2)
    layer = channel_layers["default"]
    # Of another shape (another version of liveevents, mid-deploy): no id.
    await layer.group_send(group_name("bulletins"), {"type": "liveevents.event", "stream": "bulletins"})
    await sync_to_async(publish)("bulletins", "tick", "after it")
    await response.read_events(1, timeout=2)  # through the layer
    assert response.ids == [1]
    await response.disconnect()
    await hub.aclose()
