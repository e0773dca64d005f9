"""Wake-ups leave in the background, in order: a slow or hung channel layer never holds up a save."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from channels.layers import BaseChannelLayer
from django.db import transaction

from liveevents import wakeup
from liveevents.models import Event
from liveevents.publish import publish
from liveevents.wakeup import flush_wake_ups

pytestmark = pytest.mark.django_db(transaction=True)


class HangingLayer(BaseChannelLayer):
    """A cross-process layer that takes messages and never answers, as a hung Redis."""

    released = threading.Event()
    calls: list[str] = []

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        HangingLayer.calls.append(group)
        while not HangingLayer.released.is_set():
            await asyncio.sleep(0.01)


class RecordingLayer(BaseChannelLayer):
    """A cross-process layer that records what it is sent, taking a little time for each."""

    sent: list[tuple[str, int]] = []

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await asyncio.sleep(0.001)
        RecordingLayer.sent.append((group, message["id"]))


@pytest.fixture
def hanging_layer(settings: Any) -> Any:
    HangingLayer.released.clear()
    HangingLayer.calls.clear()
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.liveevents.test_wakeup.HangingLayer"}}
    yield HangingLayer
    HangingLayer.released.set()
    flush_wake_ups()


def test_a_save_does_not_wait_for_a_hung_layer(hanging_layer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wakeup, "WAKE_UP_TIMEOUT", 30.0)  # the layer would hold each for that long
    started = time.monotonic()
    for n in range(5):
        with transaction.atomic():
            publish("alpha", "tick", {"n": n})
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"five commits took {elapsed:.2f}s behind a hung layer"
    assert Event.objects.count() == 5
    deadline = time.monotonic() + 2
    while not hanging_layer.calls:  # the first wake-up did reach the layer, in the background
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert hanging_layer.calls == ["liveevents.alpha"]  # the others wait their turn, in order


def test_a_hung_layer_gives_each_wake_up_up_the_timeout(
    hanging_layer: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(wakeup, "WAKE_UP_TIMEOUT", 0.05)
    publish("alpha", "tick", "one")
    publish("beta", "tick", "two")
    flush_wake_ups()
    assert hanging_layer.calls == ["liveevents.alpha", "liveevents.beta"]
    assert caplog.text.count("catch up from the log") == 2


def test_wake_ups_leave_in_commit_order(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.liveevents.test_wakeup.RecordingLayer"}}
    RecordingLayer.sent.clear()
    expected = []
    for n in range(40):
        stream = ("alpha", "beta", "gamma")[n % 3]
        event = publish(stream, "tick", {"n": n})
        expected.append((f"liveevents.{stream}", event.sequence))
    flush_wake_ups()
    assert RecordingLayer.sent == expected


def test_a_layer_that_never_recovers_holds_a_bounded_number_of_wake_ups(
    hanging_layer: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(wakeup, "MAX_WAITING", 3)
    monkeypatch.setattr(wakeup, "WAKE_UP_TIMEOUT", 30.0)
    dropped = wakeup._sender.dropped
    for n in range(10):
        publish("alpha", "tick", {"n": n})
    wakeup._sender.loop().call_soon_threadsafe(lambda: None)
    deadline = time.monotonic() + 2
    while wakeup._sender.dropped - dropped < 6:  # 1 in flight, 3 waiting, the 6 oldest dropped
        assert time.monotonic() < deadline, wakeup._sender.dropped - dropped
        time.sleep(0.01)
    assert "dropped" in caplog.text
