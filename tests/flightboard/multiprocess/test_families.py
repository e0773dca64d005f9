"""Streams of a family (flight.<code>, terminal.<code>) across processes over Redis: every process's
clients get each event of their own stream exactly once, through the layer (not the log check), and
Redis holds one group membership per followed stream per process, dropped when it stops following."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis

from benchmarks.support.sse_client import SSEClient
from tests.flightboard.multiprocess.harness import (
    LAYER_LATENCY,
    LOG_CHECK,
    SharedSite,
    assert_exact,
    connect_all,
    group_key,
    stop_all,
    wait_all,
)

pytestmark = [pytest.mark.multiprocess, pytest.mark.timeout(180)]


async def test_family_streams_reach_each_process_through_redis_exactly_once(
    site: SharedSite, redis_url: str, start_servers
) -> None:
    a, b = start_servers(2)
    tag = uuid.uuid4().hex[:6].upper()  # names no other test of the module follows
    streams = [f"flight.F{tag}{n}" for n in range(8)] + [f"terminal.{tag}1", f"terminal.{tag}2"]
    clients = {
        (stream, server.port): SSEClient(f"{server.name}-{stream}", stream=stream)
        for stream in streams
        for server in (a, b)
    }
    for server in (a, b):
        await connect_all([c for (_, port), c in clients.items() if port == server.port], server.port)

    store = redis.Redis.from_url(redis_url, decode_responses=True)
    # One membership per followed stream per process, however many streams the process follows.
    assert {stream: store.zcard(group_key(stream)) for stream in streams} == dict.fromkeys(streams, 2)

    per_stream = 4
    started = time.monotonic()
    await site.publish(per_stream * len(streams), per_transaction=(1, 3), streams=tuple(streams))
    # Faster than any log check: the wake-ups crossed Redis to both processes.
    await wait_all(list(clients.values()), per_stream, LAYER_LATENCY)
    assert time.monotonic() - started < LOG_CHECK + 5
    for client in clients.values():
        assert_exact([client], list(range(1, per_stream + 1)))

    # A process that no longer follows a stream leaves its group; the other stays.
    gone = streams[0]
    await clients[(gone, a.port)].stop()
    deadline = time.monotonic() + 5
    while store.zcard(group_key(gone)) != 1:
        assert time.monotonic() < deadline, f"{a.name} did not leave the group of {gone}"
        await asyncio.sleep(0.05)
    assert store.zcard(group_key(streams[1])) == 2
    await stop_all([c for key, c in clients.items() if key != (gone, a.port)])
