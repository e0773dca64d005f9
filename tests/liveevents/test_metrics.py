"""Prometheus metrics: the counters move with what really happens on real ASGI streams, the
endpoint answers only staff and the token, multiprocess mode sums the processes, and liveevents
works without prometheus_client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client
from prometheus_client import REGISTRY

import liveevents.urls
from liveevents.hub import StreamHub, _hubs
from liveevents.models import Event
from liveevents.publish import publish, set_stream_closed
from liveevents.streams import PUBLIC, declare_stream, forget_stream
from liveevents.testing import StreamResponse
from liveevents.views import metrics_view
from tests.conftest import restart_hub
from tests.liveevents.asgi_client import open_stream

pytestmark = pytest.mark.timeout(30)

URL = "/events/bulletins/"
REPO = Path(__file__).resolve().parents[2]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Samples:
    """Metric values from now on: what a test changed, whatever earlier tests left."""

    def __init__(self) -> None:
        self.before: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def mark(self, name: str, **labels: str) -> None:
        self.before[(name, tuple(sorted(labels.items())))] = sample(name, **labels)

    def moved(self, name: str, **labels: str) -> float:
        return sample(name, **labels) - self.before[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def samples() -> Samples:
    return Samples()


@pytest.fixture
async def metered(hub: StreamHub, settings: Any) -> AsyncIterator[StreamHub]:
    """A hub recording metrics (on explicitly, not by default)."""
    settings.LIVEEVENTS = {**settings.LIVEEVENTS, "METRICS": True}
    current = await restart_hub(hub)
    assert current.metrics.enabled
    yield current
    await current.aclose()
    _hubs.pop(asyncio.get_running_loop(), None)


@pytest.fixture
async def quiet(hub: StreamHub, settings: Any) -> AsyncIterator[StreamHub]:
    """A hub recording metrics whose tick runs only when a test calls it."""
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 60, "HEARTBEAT": 120, "METRICS": True}
    current = await restart_hub(hub)
    yield current
    await current.aclose()
    _hubs.pop(asyncio.get_running_loop(), None)


@pytest.fixture
def desks() -> Iterator[None]:
    """A family of public streams, desk.{code}."""
    declare_stream("desk.{code}", readers=PUBLIC)
    yield
    forget_stream("desk.{code}")


async def streaming(path: str, headers: dict[str, str] | None = None, **options: Any) -> StreamResponse:
    response = await open_stream(path, headers, **options)
    assert response.status == 200, response.body
    await response.read_until(lambda r: r.parser.retry is not None)
    return response


async def until(condition: Callable[[], bool], timeout: float = 3) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "not within the timeout"
        await asyncio.sleep(0.01)


def publish_each(count: int, stream: str = "bulletins") -> None:
    for n in range(count):
        publish(stream, "tick", {"n": n})  # a transaction, and a wake-up, each


def publish_silently(count: int) -> None:
    """Events committed whose wake-ups never reached this process (the layer lost them)."""
    with mock.patch("liveevents.wakeup.wake_listeners"):
        publish_each(count)


# Connections ----------------------------------------------------------------------------------


async def test_a_connection_counts_under_its_stream_while_it_is_open(
    metered: StreamHub, samples: Samples
) -> None:
    samples.mark("liveevents_connections_open", stream="bulletins")
    responses = [await streaming(URL) for _ in range(2)]
    assert samples.moved("liveevents_connections_open", stream="bulletins") == 2
    await responses[0].disconnect()
    assert samples.moved("liveevents_connections_open", stream="bulletins") == 1
    await responses[1].disconnect()
    assert samples.moved("liveevents_connections_open", stream="bulletins") == 0


async def test_family_members_count_under_the_familys_pattern_never_their_own_name(
    metered: StreamHub, samples: Samples, desks: None
) -> None:
    samples.mark("liveevents_connections_open", stream="desk.{code}")
    one, two = await streaming("/events/desk.1/"), await streaming("/events/desk.2/")
    assert samples.moved("liveevents_connections_open", stream="desk.{code}") == 2
    exposed = REGISTRY.get_sample_value("liveevents_connections_open", {"stream": "desk.1"})
    assert exposed is None
    await one.disconnect()
    await two.disconnect()
    assert samples.moved("liveevents_connections_open", stream="desk.{code}") == 0


async def test_a_multiplexed_connection_counts_once_per_label_until_it_leaves_each(
    metered: StreamHub, samples: Samples, desks: None
) -> None:
    samples.mark("liveevents_connections_open", stream="desk.{code}")
    samples.mark("liveevents_connections_open", stream="bulletins")
    response = await streaming("/events/?stream=desk.1&stream=desk.2&stream=bulletins")
    assert samples.moved("liveevents_connections_open", stream="desk.{code}") == 1
    assert samples.moved("liveevents_connections_open", stream="bulletins") == 1
    # Closing one stream: the connection goes on with the others, and leaves that label only.
    await sync_to_async(set_stream_closed)("bulletins", True)
    await response.read_until(lambda r: any(e.event == "closedConnection" for e in r.events))
    await until(lambda: samples.moved("liveevents_connections_open", stream="bulletins") == 0)
    await sync_to_async(set_stream_closed)("desk.1", True)
    await response.read_events(2)
    assert samples.moved("liveevents_connections_open", stream="desk.{code}") == 1  # desk.2 is left
    await response.disconnect()
    assert samples.moved("liveevents_connections_open", stream="desk.{code}") == 0
    await sync_to_async(set_stream_closed)("bulletins", False)


# Delivery -------------------------------------------------------------------------------------


async def test_events_delivered_count_once_per_connection(metered: StreamHub, samples: Samples) -> None:
    samples.mark("liveevents_events_delivered_total", stream="bulletins")
    responses = [await streaming(URL) for _ in range(3)]
    await sync_to_async(publish_each)(2)
    for response in responses:
        await response.read_events(2)
        await response.disconnect()
    assert samples.moved("liveevents_events_delivered_total", stream="bulletins") == 6


async def test_bytes_written_are_the_bytes_every_client_received(
    metered: StreamHub, samples: Samples
) -> None:
    samples.mark("liveevents_bytes_written_total")
    responses = [await streaming(URL) for _ in range(2)]
    await sync_to_async(publish_each)(3)
    for response in responses:
        await response.read_events(3)
    await metered.tick()  # what was written so far is recorded at each tick
    assert samples.moved("liveevents_bytes_written_total") == sum(len(r.body) for r in responses)
    for response in responses:
        await response.disconnect()


async def test_the_commit_to_delivery_lag_is_observed_once_per_event_not_per_connection(
    metered: StreamHub, samples: Samples
) -> None:
    samples.mark("liveevents_commit_to_delivery_seconds_count")
    samples.mark("liveevents_commit_to_delivery_seconds_sum")
    samples.mark("liveevents_commit_to_delivery_seconds_bucket", le="10.0")
    responses = [await streaming(URL) for _ in range(3)]
    await sync_to_async(publish_each)(2)
    for response in responses:
        await response.read_events(2)
        await response.disconnect()
    assert samples.moved("liveevents_commit_to_delivery_seconds_count") == 2
    assert 0 <= samples.moved("liveevents_commit_to_delivery_seconds_sum") < 10
    assert samples.moved("liveevents_commit_to_delivery_seconds_bucket", le="10.0") == 2


# Repairs --------------------------------------------------------------------------------------


async def test_a_dropped_wake_up_counts_a_gap_repair(quiet: StreamHub, samples: Samples) -> None:
    samples.mark("liveevents_gap_repairs_total")
    samples.mark("liveevents_tick_catch_ups_total")
    response = await streaming(URL)
    await sync_to_async(publish_silently)(2)
    await sync_to_async(publish_each)(1)  # id 3 arrives after 2: ids 1 and 2 come from the log
    await response.read_events(3)
    assert response.ids == [1, 2, 3]
    assert samples.moved("liveevents_gap_repairs_total") == 1
    assert samples.moved("liveevents_tick_catch_ups_total") == 0
    await response.disconnect()


async def test_a_dropped_last_wake_up_counts_a_tick_catch_up(quiet: StreamHub, samples: Samples) -> None:
    samples.mark("liveevents_gap_repairs_total")
    samples.mark("liveevents_tick_catch_ups_total")
    response = await streaming(URL)
    await sync_to_async(publish_silently)(2)  # nothing after them: only the log check sees them
    await quiet.tick()
    await response.read_events(2)
    assert response.ids == [1, 2]
    assert samples.moved("liveevents_tick_catch_ups_total") == 1
    assert samples.moved("liveevents_gap_repairs_total") == 0
    await quiet.tick()  # nothing is behind any more: nothing more counted
    assert samples.moved("liveevents_tick_catch_ups_total") == 1
    await response.disconnect()


async def test_a_repair_over_pruned_events_counts_a_reset_per_connection(
    quiet: StreamHub, samples: Samples
) -> None:
    samples.mark("liveevents_resets_total")
    responses = [await streaming(URL) for _ in range(2)]
    await sync_to_async(publish_silently)(3)
    await sync_to_async(Event.objects.filter(stream_id="bulletins", sequence__in=[1, 2]).delete)()
    await sync_to_async(publish_each)(1)
    for response in responses:
        await response.read_events(3)
        assert [e.event for e in response.events] == ["streamReset", "tick", "tick"]
        await response.disconnect()
    assert samples.moved("liveevents_resets_total") == 2


# Replays --------------------------------------------------------------------------------------


async def test_a_reconnect_storm_counts_replays_and_the_events_replayed(
    metered: StreamHub, samples: Samples
) -> None:
    await sync_to_async(publish_each)(5)
    for name in ("liveevents_replays_total", "liveevents_events_replayed_total", "liveevents_resets_total"):
        samples.mark(name)
    storm = [await streaming(URL, {"Last-Event-ID": "2"}) for _ in range(3)]
    for response in storm:
        await response.read_events(3)
        assert response.ids == [3, 4, 5]
        await response.disconnect()
    assert samples.moved("liveevents_replays_total") == 3
    assert samples.moved("liveevents_events_replayed_total") == 9
    assert samples.moved("liveevents_resets_total") == 0
    ahead = await streaming(URL, {"Last-Event-ID": "99"})  # a reset database: the client reloads
    await ahead.read_events(1)
    assert ahead.events[0].event == "streamReset"
    await ahead.disconnect()
    assert samples.moved("liveevents_replays_total") == 4
    assert samples.moved("liveevents_resets_total") == 1


async def test_a_connection_without_a_position_is_no_replay(metered: StreamHub, samples: Samples) -> None:
    samples.mark("liveevents_replays_total")
    response = await streaming(URL)
    await response.disconnect()
    assert samples.moved("liveevents_replays_total") == 0


# Slow clients ---------------------------------------------------------------------------------


async def test_a_client_that_does_not_read_counts_as_cut_off(
    hub: StreamHub, settings: Any, samples: Samples
) -> None:
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 0.2, "HEARTBEAT": 15, "QUEUE_SIZE": 3, "METRICS": True}
    hub = await restart_hub(hub)
    samples.mark("liveevents_slow_clients_cut_off_total")
    reading = await streaming(URL)
    stalled = await streaming(URL, send_buffer=1)  # reads nothing from here on
    await sync_to_async(publish_each)(12)
    await reading.read_events(12)
    await until(lambda: samples.moved("liveevents_slow_clients_cut_off_total") == 1)
    await stalled.read_to_end()
    assert len(stalled.ids) < 12
    await asyncio.sleep(0.1)
    assert samples.moved("liveevents_slow_clients_cut_off_total") == 1  # once, the reader never
    await reading.disconnect()
    await hub.aclose()


# Access ---------------------------------------------------------------------------------------


async def test_a_logout_counts_the_stream_revoked(metered: StreamHub, samples: Samples) -> None:
    samples.mark("liveevents_access_revoked_total")
    client = await sync_to_async(signed_in)("reader")
    response = await streaming("/events/notes/", {"cookie": f"sessionid={client.cookies['sessionid'].value}"})
    await sync_to_async(client.logout)()
    await response.read_to_end()
    assert json.loads(response.events[-1].data) == {"stream": "notes", "reason": "forbidden"}
    assert samples.moved("liveevents_access_revoked_total") == 1


# The endpoint ---------------------------------------------------------------------------------


def signed_in(username: str, **flags: Any) -> Client:
    client = Client()
    client.force_login(User.objects.create_user(username, password="pw", **flags))
    return client


async def scrape(headers: dict[str, str] | None = None) -> StreamResponse:
    response = await open_stream("/metrics/", {"accept": "text/plain", **(headers or {})})
    await response.read_to_end()
    return response


async def test_the_endpoint_refuses_anonymous_requests(metered: StreamHub) -> None:
    response = await scrape()
    assert response.status == 403
    assert b"liveevents_" not in response.body


async def test_the_endpoint_refuses_a_wrong_token_and_a_signed_in_user_who_is_not_staff(
    metered: StreamHub, settings: Any
) -> None:
    settings.LIVEEVENTS = {**settings.LIVEEVENTS, "METRICS_TOKEN": "right-token"}
    assert (await scrape({"authorization": "Bearer wrong-token"})).status == 403
    assert (await scrape({"authorization": "Basic right-token"})).status == 403
    client = await sync_to_async(signed_in)("visitor")
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    assert (await scrape({"cookie": cookie})).status == 403


async def test_the_endpoint_answers_the_token_in_prometheus_text_format(
    metered: StreamHub, settings: Any
) -> None:
    settings.LIVEEVENTS = {**settings.LIVEEVENTS, "METRICS_TOKEN": "s3cret-token"}
    listening = await streaming(URL)
    response = await scrape({"authorization": "Bearer s3cret-token"})
    await listening.disconnect()
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert response.headers["cache-control"] == "no-store"
    text = response.body.decode()
    assert "# TYPE liveevents_connections_open gauge" in text
    assert 'liveevents_connections_open{stream="bulletins"} ' in text
    for name in (
        "liveevents_events_delivered",
        "liveevents_bytes_written",
        "liveevents_replays",
        "liveevents_events_replayed",
        "liveevents_resets",
        "liveevents_slow_clients_cut_off",
        "liveevents_gap_repairs",
        "liveevents_tick_catch_ups",
        "liveevents_access_revoked",
    ):
        assert f"# TYPE {name}_total counter" in text, name
        assert f"# HELP {name}_total " in text, name
    assert "# TYPE liveevents_commit_to_delivery_seconds histogram" in text


async def test_the_endpoint_answers_a_staff_session(metered: StreamHub) -> None:
    client = await sync_to_async(signed_in)("operator", is_staff=True)
    response = await scrape({"cookie": f"sessionid={client.cookies['sessionid'].value}"})
    assert response.status == 200
    assert b"# TYPE liveevents_connections_open gauge" in response.body


async def test_the_endpoint_says_when_metrics_are_off(metered: StreamHub, settings: Any) -> None:
    settings.LIVEEVENTS = {"METRICS": False, "METRICS_TOKEN": "s3cret-token"}
    response = await scrape({"authorization": "Bearer s3cret-token"})
    assert response.status == 404
    assert b"Metrics are off" in response.body


def test_the_endpoint_is_not_among_the_stream_urls() -> None:
    # Routed by the project where it wants it: never public under the streams' prefix.
    assert all(pattern.callback is not metrics_view for pattern in liveevents.urls.urlpatterns)


async def test_metrics_off_record_nothing(hub: StreamHub, settings: Any, samples: Samples) -> None:
    settings.LIVEEVENTS = {**settings.LIVEEVENTS, "METRICS": False}
    hub = await restart_hub(hub)
    samples.mark("liveevents_connections_open", stream="bulletins")
    samples.mark("liveevents_events_delivered_total", stream="bulletins")
    response = await streaming(URL)
    assert samples.moved("liveevents_connections_open", stream="bulletins") == 0
    await sync_to_async(publish_each)(1)
    await response.read_events(1)
    await response.disconnect()
    assert samples.moved("liveevents_events_delivered_total", stream="bulletins") == 0
    await hub.aclose()


# Other processes ------------------------------------------------------------------------------


def run_program(module: str, tmp_path: Path, *args: str, **env: str) -> dict[str, Any]:
    """`python -m module args` in a fresh process on the bare test project; its JSON report."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MINIMAL_SETTINGS", "PROMETHEUS"))}
    keep.pop("DJANGO_SETTINGS_MODULE", None)
    keep.update(
        DJANGO_SETTINGS_MODULE="tests.notes.settings",
        PYTHONPATH=str(REPO),
        MINIMAL_SETTINGS_DIR=str(tmp_path),
        MINIMAL_SETTINGS_BARE="1",
        **env,
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", module, *args],
        cwd=tmp_path,
        env=keep,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_multiprocess_mode_sums_the_processes_and_forgets_the_gauges_of_those_gone(tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    run_program("tests.notes.metrics_process", tmp_path, "--connections", "3", "--bytes", "100", **env)
    report = run_program(
        "tests.notes.metrics_process", tmp_path, "--connections", "2", "--bytes", "50", "--expose", **env
    )
    lines = report["exposition"].splitlines()
    assert "liveevents_bytes_written_total 150.0" in lines  # both processes' writes
    # The gauge of the process that exited went with it: only the live one's connections count.
    assert 'liveevents_connections_open{stream="bulletins"} 2.0' in lines
    assert "# TYPE liveevents_connections_open gauge" in lines


def test_liveevents_works_without_prometheus_client(tmp_path: Path) -> None:
    report = run_program("tests.notes.metrics_without_prometheus", tmp_path)
    assert report["available"] is False
    assert report["recorders"] == "off"
    assert report["ids"] == [1, 2]  # a stream served, with its hub's ticks and repairs
    assert report["metrics_view"] == {"anonymous": 403, "token": 404}
    assert report["checks"] == ["liveevents.E005"]  # METRICS True needs the extra
    assert report["asked_for"] == "ImproperlyConfigured"
