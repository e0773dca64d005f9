"""Scale-out with REDIS_URL: several daphne processes share streams through channels_redis.

A change written by any process (admin on another daphne, `manage.py shell`, a management command,
a plain WSGI process) reaches browsers on process B once each, in order, and fast: well within
the hub's 7.5 s log check, so the wake-up really crossed processes through Redis. Group
membership that channels_redis expires is renewed by the hub, and what it cost is caught up.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import redis

from benchmarks.support.admin import AdminSession
from benchmarks.support.sse_client import SSEClient
from tests.flightboard.multiprocess.harness import (
    LAYER_LATENCY,
    LOG_CHECK,
    SharedSite,
    assert_exact,
    connect_all,
    group_key,
    wait_all,
)

pytestmark = [pytest.mark.multiprocess, pytest.mark.timeout(180)]


def latencies(clients: list[SSEClient], event_id: int, committed: float) -> list[float]:
    return [round(client.first_at(event_id) - committed, 3) for client in clients]  # type: ignore[operator]


async def test_writes_from_every_kind_of_process_reach_browsers_on_another_process(
    site: SharedSite, start_servers
) -> None:
    a, b = start_servers(2)
    (wsgi,) = start_servers(1, kind="wsgi")
    on_b = [SSEClient(f"B{n}") for n in range(2)]
    on_a = [SSEClient("A0")]
    clients = on_b + on_a
    await connect_all(on_b, b.port)
    await connect_all(on_a, a.port)
    start = site.head()
    expected: list[tuple[str, str, str]] = []  # (source, event, state or flight)
    slow: dict[str, list[float]] = {}

    seen: dict[str, list[float]] = {}

    async def arrived(source: str, event_id: int, committed: float) -> None:
        await wait_all(clients, event_id, LOG_CHECK + 5)
        delays = latencies(on_b, event_id, committed)
        seen.setdefault(source, []).extend(delays)
        if max(delays) >= LAYER_LATENCY:
            slow[f"{source} #{event_id}"] = delays

    # 1. The admin of process A (a POST through daphne A's Django admin).
    admin_a = AdminSession(a.url, site.password)
    await asyncio.to_thread(admin_a.login)
    answered = await asyncio.to_thread(
        admin_a.change_flight, site.flight_pk("A123"), origin="London", arrival="08:15", state="delayed"
    )
    expected.append(("admin on A", "flightStateUpdate", "A123 delayed"))
    await arrived("admin on A", start + 1, answered)

    # 2. `manage.py shell -c` saving a Flight.
    output = await site.save_flight("D654", "landing")
    expected.append(("shell", "flightStateUpdate", "D654 landing"))
    await arrived("shell", start + 2, output.stamps("committed")[0])

    # 3. A management command: one tutorial cycle (landing, landed, removal, scheduled again).
    output = await site.amanage("simulate_flights", "--flight", "U213", "--cycles", "1", "--interval", "0")
    steps = [(at, line) for at, line in output.lines if line.startswith("U213:")]
    assert [line for _, line in steps] == [
        "U213: Landing",
        "U213: Landed",
        "U213: removed",
        "U213: scheduled again",
    ], output.stdout
    expected += [
        ("simulate_flights", "flightStateUpdate", "U213 landing"),
        ("simulate_flights", "flightStateUpdate", "U213 landed"),
        ("simulate_flights", "flightRemoval", "U213"),
        ("simulate_flights", "flightStateUpdate", "U213 "),
    ]
    for offset, (printed, _) in enumerate(steps, start=3):
        # Printed after the commit: a lower bound of the latency, as good as the 7.5 s check needs.
        await arrived("simulate_flights", start + offset, printed)

    # 4. A plain WSGI process (Django's WSGI handler under wsgiref): its admin, over HTTP.
    admin_wsgi = AdminSession(wsgi.url, site.password)
    await asyncio.to_thread(admin_wsgi.login)
    answered = await asyncio.to_thread(
        admin_wsgi.change_flight, site.flight_pk("G119"), origin="Tokyo", arrival="10:35", state="cancelled"
    )
    expected.append(("admin on WSGI", "flightStateUpdate", "G119 cancelled"))
    await arrived("admin on WSGI", start + 7, answered)

    assert site.head() == start + len(expected)
    assert_exact(clients, range(start + 1, start + len(expected) + 1))
    for client in clients:
        got = []
        for received in client.received:
            data = json.loads(received.data)
            summary = data["flight"] + (f" {data['state']}" if received.event == "flightStateUpdate" else "")
            got.append((received.event, summary))
        assert got == [(event, summary) for _, event, summary in expected], client.name
        assert len(client.connections) == 1, client.connections
    # Through Redis, not by the log check every 7.5 s.
    assert not slow, f"events slower than {LAYER_LATENCY}s on B (seconds after commit): {slow}"
    print("latency on B, commit to client:", {source: max(delays) for source, delays in seen.items()})
    for client in clients:
        await client.stop()


async def test_expired_group_membership_is_renewed_and_loses_nothing(
    site: SharedSite, redis_url: str, start_servers
) -> None:
    """channels_redis drops group members older than group_expiry (at group_send time). Simulate it
    exactly: age B's membership past any expiry right before a write. The write is then not sent to
    B; B's next log check finds it missing, joins the group again and delivers it; later writes
    arrive through Redis. (The hub renews memberships every group_expiry / 3, not on every check.)"""
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    (b,) = start_servers(1)
    before = set(store.zrange(group_key(), 0, -1))
    clients = [SSEClient(f"B{n}") for n in range(2)]
    await connect_all(clients, b.port)
    joined = set(store.zrange(group_key(), 0, -1)) - before
    assert len(joined) == 1, f"expected B's hub to join the group once, got {joined}"
    (channel,) = joined
    start = site.head()

    # Expire B's membership (score one day and a minute old), then write at once, from another
    # process: channels_redis's group_send removes B and sends the event to nobody.
    expire_and_save = "tests.flightboard.multiprocess.expire_and_save"
    output = await site.acommand(channel, "A987", "diverted", module=expire_and_save)
    committed = output.stamps("committed")[0]
    assert "member after send: None" in output.stdout, (
        "the expiry did not remove B from the group (a log check renewed it in between?): " + output.stdout
    )
    await wait_all(clients, start + 1, LOG_CHECK + 3)
    catch_up_delay = latencies(clients, start + 1, committed)
    # Back in the group: the log check that caught up joined first.
    assert store.zscore(group_key(), channel) is not None

    # And Redis carries the next write to B again, fast.
    output = await site.save_flight("A987", "landed")
    await wait_all(clients, start + 2, LOG_CHECK + 3)
    delays = latencies(clients, start + 2, output.stamps("committed")[0])
    assert max(delays) < LAYER_LATENCY, f"after renewal, still only the log check: {delays}"

    assert_exact(clients, [start + 1, start + 2])
    print(f"expired membership: caught up by the log check after {catch_up_delay}s; then {delays}s")
    for client in clients:
        await client.stop()
