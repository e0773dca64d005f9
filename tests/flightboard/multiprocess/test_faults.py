"""Faults with several real daphne processes on PostgreSQL and Redis: no event is lost or duplicated.

Every client records the ids it receives over all its connections; each test asserts the exact
contiguous sequence, in order, with no duplicate, after: channels_redis dropping messages
(capacity overflow, expiry); Redis stopped for 10 s; a server SIGKILLed under its clients; clients
dropping at random moments during a burst of 10,000 events.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time

import pytest
import redis

from benchmarks.support.servers import ServerProcess
from benchmarks.support.services import RedisServer
from benchmarks.support.sse_client import SSEClient
from tests.flightboard.multiprocess.harness import (
    LAYER_LATENCY,
    LOG_CHECK,
    SharedSite,
    assert_exact,
    channel_key,
    connect_all,
    group_key,
    stop_all,
    wait_all,
)

pytestmark = [pytest.mark.multiprocess, pytest.mark.timeout(180)]

CAPACITY = 100  # channels_redis's default per-channel capacity


async def joined_channel(store: redis.Redis, before: set[str], timeout: float = 5) -> str:
    """The group member that appeared since `before`: the hub channel of the process just joined."""
    deadline = time.monotonic() + timeout
    while True:
        new = set(store.zrange(group_key(), 0, -1)) - before
        if len(new) == 1:
            return new.pop()
        assert time.monotonic() < deadline, f"expected one new group member, got {new}"
        await asyncio.sleep(0.05)


async def test_layer_drops_on_capacity_overflow_and_expiry_lose_nothing(
    site: SharedSite, redis_url: str, start_servers
) -> None:
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    a, b = start_servers(2)
    members = set(store.zrange(group_key(), 0, -1))
    on_b = [SSEClient(f"B{n}") for n in range(2)]
    await connect_all(on_b, b.port)
    b_channel = await joined_channel(store, members)
    on_a = [SSEClient("A0")]
    await connect_all(on_a, a.port)
    clients = on_b + on_a
    start = site.head()

    # 1. Capacity overflow. B is paused (SIGSTOP), so nothing consumes its channel while another
    # process commits 500 events, one per transaction (publish sends one wake-up per stream per
    # transaction): channels_redis keeps 100 wake-ups for B and drops the rest.
    b.signal(signal.SIGSTOP)
    try:
        output = await site.publish(500, event="burst")
        queued = store.zcard(channel_key(b_channel))
        group = store.zrange(group_key(), 0, -1, withscores=True)
    finally:
        b.signal(signal.SIGCONT)
    resumed = time.time()
    assert "over capacity in group liveevents.flights" in output.stderr, (
        f"no drop? {queued} queued for B ({b_channel}); group {group}; writer said {output.stderr[-3000:]!r}"
    )
    assert queued <= CAPACITY, queued
    await wait_all(clients, start + 500, LOG_CHECK + 5)
    assert_exact(clients, range(start + 1, start + 501))
    through_layer = max(r.id or 0 for r in on_b[0].received if r.at < resumed + 1) - start
    caught_up = on_b[0].first_at(start + 500) - resumed  # type: ignore[operator]
    overflow_report = (
        f"overflow: {queued} of 500 wake-ups queued for B; B had {through_layer} events 1 s after "
        f"SIGCONT, all 500 after {caught_up:.2f}s (log check)"
    )

    # 2. Expiry: the messages waiting for B vanish (as channels_redis expires them after 60 s).
    # The next wake-up B hears skips ids; B reads the hole from the log at once.
    b.signal(signal.SIGSTOP)
    try:
        await site.publish(50, event="burst")
        store.delete(channel_key(b_channel))
    finally:
        b.signal(signal.SIGCONT)
    output = await site.publish(1, event="burst")
    last = start + 551
    assert site.head() == last
    await wait_all(clients, last, LOG_CHECK + 5)
    committed = output.stamps("committed")[-1]
    gap_repair = [round(client.first_at(last) - committed, 3) for client in on_b]  # type: ignore[operator]
    # Repaired on the wake-up that showed the gap, not by the next log check.
    assert max(gap_repair) < LAYER_LATENCY, gap_repair

    assert_exact(clients, range(start + 1, last + 1))
    for client in clients:
        data = [json.loads(r.data)["n"] for r in client.received]
        assert data == [*range(500), *range(50), 0], client.name
        assert len(client.connections) == 1, client.connections
    print(f"{overflow_report}; expiry: gap repaired {gap_repair}s after the next commit")
    await stop_all(clients)


async def test_redis_outage_of_ten_seconds_loses_nothing_and_keeps_streams_open(
    site: SharedSite, private_redis: RedisServer, start_servers
) -> None:
    a, b = start_servers(2, redis_url=private_redis.url)
    clients = [SSEClient("B0"), SSEClient("B1"), SSEClient("A0")]
    await connect_all(clients[:2], b.port)
    await connect_all(clients[2:], a.port)
    start = site.head()
    timeline: list[str] = []

    async def write(code: str, state: str) -> float:
        output = await site.save_flight(code, state, redis_url=private_redis.url)
        return output.stamps("committed")[0]

    committed = await write("I768", "landing")
    await wait_all(clients, start + 1, LOG_CHECK + 3)
    delays = [round(c.first_at(start + 1) - committed, 2) for c in clients]  # type: ignore[operator]
    assert max(delays) < LAYER_LATENCY, f"Redis is up: expected the layer, got {delays}"

    # Redis goes away for 10 seconds; writers keep writing (their wake-ups fail and are logged).
    private_redis.stop()
    stopped = time.monotonic()
    written_during: list[tuple[int, float]] = []
    for n, state in enumerate(["landed", "delayed", "landing"], start=2):
        written_during.append((start + n, await write("I768", state)))
        await asyncio.sleep(max(0.0, 3.0 * (n - 1) - (time.monotonic() - stopped)))
    await asyncio.sleep(max(0.0, 10.0 - (time.monotonic() - stopped)))
    private_redis.start()
    timeline.append(f"Redis down {time.monotonic() - stopped:.1f}s")

    committed_after = await write("I768", "landed")
    written_during.append((start + 5, committed_after))
    await wait_all(clients, start + 5, LOG_CHECK + 5)
    for event_id, at in written_during:
        delays = [round(c.first_at(event_id) - at, 2) for c in clients]  # type: ignore[operator]
        timeline.append(f"#{event_id}: {delays}")
        assert max(delays) <= LOG_CHECK + 1.5, (
            f"event {event_id} took {delays}s: more than one log check ({LOG_CHECK}s); {timeline}"
        )

    # After the next log check the hubs are back in the (new, empty) Redis's group: fast again.
    deadline = time.monotonic() + LOG_CHECK + 5
    store = private_redis.client()
    while store.zcard(group_key()) < 2:
        assert time.monotonic() < deadline, "the hubs did not rejoin the group of the restarted Redis"
        await asyncio.sleep(0.2)
    committed = await write("I768", "")
    await wait_all(clients, start + 6, LOG_CHECK + 3)
    delays = [round(c.first_at(start + 6) - committed, 2) for c in clients]  # type: ignore[operator]
    timeline.append(f"after rejoin #{start + 6}: {delays}")
    assert max(delays) < LAYER_LATENCY, f"after Redis came back, still no layer: {timeline}"

    assert_exact(clients, range(start + 1, start + 7))
    for client in clients:
        assert len(client.connections) == 1 and client.connected, (client.name, client.connections)
    print("redis outage:", "; ".join(timeline))
    await stop_all(clients)


async def test_sigkill_of_a_server_clients_fail_over_with_their_last_id(
    site: SharedSite, start_servers
) -> None:
    a, b = start_servers(2)
    clients = [SSEClient(f"C{n}") for n in range(8)]
    await connect_all(clients, a.port)
    # When their connection dies, the clients come back (like a browser behind a balancer whose
    # other backend is B) with their Last-Event-ID.
    for client in clients:
        client.follow(lambda: b.port, retry_delay=0.3)
    start = site.head()
    total = 400

    writer = asyncio.create_task(site.publish(total, pause=0.01, event="failover"))
    await wait_all(clients, start + 30, 60)
    a.stop(kill=True)  # SIGKILL, mid-stream
    killed_at = site.head()
    await writer
    await wait_all(clients, start + total, LOG_CHECK + 10)

    assert_exact(clients, range(start + 1, start + total + 1))
    for client in clients:
        ports = [c.port for c in client.connections]
        assert ports[0] == a.port and set(ports[1:]) == {b.port}, (client.name, client.connections)
        data = [json.loads(r.data)["n"] for r in client.received]
        assert data == list(range(total)), client.name
    print(f"SIGKILL at id {killed_at - start} of {total}; reconnects {[len(c.connections) for c in clients]}")
    await stop_all(clients)


@pytest.mark.timeout(300)
async def test_random_disconnects_during_a_burst_of_10000_events(site: SharedSite, start_servers) -> None:
    servers: list[ServerProcess] = start_servers(2)
    ports = [server.port for server in servers]
    rng = random.Random()
    clients = [SSEClient(f"C{n:02d}") for n in range(24)]
    start = site.head()
    total = 10_000
    for n, client in enumerate(clients):
        client.last_id = start  # everything after the burst's start, whichever process serves it
        await client.connect(ports[n % 2])
        client.follow(lambda: rng.choice(ports), retry_delay=0.2)

    bursting = True

    async def chaos(client: SSEClient) -> None:
        while bursting:
            await asyncio.sleep(rng.uniform(0.3, 3.0))
            if bursting:
                client.abort()

    monkeys = [asyncio.create_task(chaos(client)) for client in clients]
    began = time.monotonic()
    try:
        output = await site.publish(total, per_transaction=(1, 200), event="burst", timeout=120)
        # Keep dropping clients while they still catch up, up to the middle of the delivery.
        await wait_all(clients, start + total // 2, 60)
    finally:
        bursting = False
        await asyncio.gather(*monkeys)
    stamps = output.stamps("committed")
    await wait_all(clients, start + total, 90)

    assert site.head() == start + total
    assert_exact(clients, range(start + 1, start + total + 1))
    for client in clients:
        assert [json.loads(r.data)["n"] for r in client.received] == list(range(total)), client.name
    reconnects = sorted(len(c.connections) - 1 for c in clients)
    print(
        f"burst: {total} events written in {stamps[-1] - stamps[0]:.1f}s ({len(stamps)} commits), "
        f"all delivered {time.monotonic() - began:.1f}s after the writer started; reconnects per "
        f"client {reconnects[0]}..{reconnects[-1]}"
    )
    await stop_all(clients)
