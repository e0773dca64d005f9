"""StreamBackpressure under daphne's write path: a paused socket stops writes, resuming lets them go,
a client that stays paused past QUEUE_SIZE is cut off. daphne's Twisted request is played by a fake
that records what a real one would be told (registerProducer, abortConnection)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application

from liveevents.asgi import ASGIApp, Message, Receive, Scope, Send, StreamBackpressure, TransportPacer
from liveevents.hub import StreamHub
from liveevents.publish import publish
from liveevents.testing import open_stream
from tests.conftest import restart_hub

pytestmark = pytest.mark.timeout(30)


class FakeTransport:
    aborted = False

    def abortConnection(self) -> None:  # noqa: N802
        self.aborted = True


class FakeChannel:
    def __init__(self) -> None:
        self.transport = FakeTransport()


class FakeTwistedRequest:
    """What StreamBackpressure uses of twisted.web.http.Request."""

    def __init__(self) -> None:
        self.producer: TransportPacer | None = None
        self.channel = FakeChannel()
        # A socket whose buffer is full: Twisted pauses the producer as soon as a write lands.
        self.full = False

    def registerProducer(self, producer: TransportPacer, streaming: bool) -> None:  # noqa: N802
        assert streaming
        self.producer = producer

    def unregisterProducer(self) -> None:  # noqa: N802
        self.producer = None


def through_daphne(app: ASGIApp, request: FakeTwistedRequest) -> ASGIApp:
    """Call `app` as daphne does: send is functools.partial(server.handle_reply, protocol)."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        async def handle_reply(protocol: FakeTwistedRequest, message: Message) -> None:
            await send(message)
            if message.get("body") and protocol.full and protocol.producer is not None:
                protocol.producer.pauseProducing()

        await app(scope, receive, functools.partial(handle_reply, request))

    return application


def publish_each(count: int) -> None:
    for n in range(count):
        publish("bulletins", "tick", {"n": n})  # one transaction, one wake-up each


@pytest.fixture
def twisted_request() -> FakeTwistedRequest:
    return FakeTwistedRequest()


async def test_a_paused_socket_holds_events_back_until_it_resumes(
    hub: StreamHub, twisted_request: FakeTwistedRequest
) -> None:
    app = through_daphne(StreamBackpressure(get_asgi_application()), twisted_request)
    async with open_stream(app, "/events/bulletins/") as response:
        await response.read_until(lambda r: r.parser.retry is not None)
        pacer = twisted_request.producer
        assert pacer is not None  # the stream registered itself as the socket's producer
        twisted_request.full = True
        await sync_to_async(publish_each)(3)
        await response.read_events(1)
        with pytest.raises(TimeoutError):  # the first write filled the socket: nothing more
            await response.read_events(2, timeout=0.5)
        assert response.ids == [1]
        twisted_request.full = False
        pacer.resumeProducing()
        await response.read_events(3)
        assert response.ids == [1, 2, 3]
    assert twisted_request.producer is None  # unregistered when the response ended
    assert not twisted_request.channel.transport.aborted


async def test_a_client_paused_past_its_queue_is_cut_off(
    hub: StreamHub, twisted_request: FakeTwistedRequest, settings: Any
) -> None:
    settings.LIVEEVENTS = {**settings.LIVEEVENTS, "QUEUE_SIZE": 5}
    await restart_hub(hub)
    app = through_daphne(StreamBackpressure(get_asgi_application()), twisted_request)
    async with open_stream(app, "/events/bulletins/") as response:
        await response.read_until(lambda r: r.parser.retry is not None)
        assert twisted_request.producer is not None
        twisted_request.full = True
        # One event per transaction, each wake-up far below QUEUE_SIZE: the queue fills only
        # because the paused write path stops taking frames.
        await sync_to_async(publish_each)(8)
        await response.read_to_end()
        assert twisted_request.channel.transport.aborted
        assert response.ids == [1]


async def test_other_servers_get_no_pacer(hub: StreamHub) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(dict(scope.get("extensions") or {}))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with open_stream(StreamBackpressure(app), "/events/bulletins/") as response:
        await response.read_to_end()
    assert seen == [{}]
