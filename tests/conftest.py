from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import channel_layers

from liveevents.hub import StreamHub, _hubs


@pytest.fixture
def fast_hub(settings: Any) -> None:
    """Short hub ticks, so log catch-up and heartbeats happen within a test's patience."""
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 0.2, "HEARTBEAT": 15}


@pytest.fixture
async def hub(transactional_db: None, fast_hub: None) -> AsyncIterator[StreamHub]:
    """The running loop's hub, closed (tasks stopped, groups left) after the test."""
    from liveevents.hub import get_hub

    loop = asyncio.get_running_loop()
    _hubs.pop(loop, None)
    await channel_layers["default"].flush()
    current = get_hub()
    yield current
    await current.aclose()
    _hubs.pop(loop, None)
    await channel_layers["default"].flush()


async def restart_hub(hub: StreamHub) -> StreamHub:
    """Close `hub` and make a new one for the running loop, reading settings changed since."""
    from liveevents.hub import get_hub

    await hub.aclose()
    _hubs.pop(asyncio.get_running_loop(), None)
    return get_hub()
