"""Prometheus metrics of the streams a process serves, with prometheus_client (the `metrics` extra)
and LIVEEVENTS["METRICS"] on; recorders that record nothing otherwise.

The only module that imports prometheus_client. Recorders are bound once, where they are cheap:
per stream family when a hub starts following a stream, per process for the rest, so that nothing
is looked up per connection per event. Connections are labelled by the stream's declared name or
its family's pattern (`terminal.{code}`), never by a family member's name: the labels stay as few
as the declarations. In multiprocess mode (PROMETHEUS_MULTIPROC_DIR set, as prometheus_client
requires before it is imported) every process writes its own file and the exposition sums them.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from liveevents.conf import get_config
from liveevents.streams import get_stream

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
except ImportError:  # installed without the `metrics` extra: every recorder is a no-op
    AVAILABLE = False
else:
    AVAILABLE = True

# The label of streams that no declaration matches (a hub followed one anyway).
UNDECLARED = "(undeclared)"
# Commit to fan-out, in seconds: well under a millisecond in one process, up to seconds behind a
# busy layer.
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Count(Protocol):
    def inc(self, amount: float = ...) -> None: ...


class Level(Protocol):
    def inc(self, amount: float = ...) -> None: ...

    def dec(self, amount: float = ...) -> None: ...


class Distribution(Protocol):
    def observe(self, amount: float) -> None: ...


class _Nothing:
    """A recorder that records nothing: metrics are off."""

    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


NOTHING = _Nothing()


@dataclass(frozen=True, slots=True, eq=False)  # a set's member, by identity
class StreamMetrics:
    """The recorders of one label (a stream declared by name, or a family), bound to it."""

    connections: Level
    delivered: Count


NO_STREAM_METRICS = StreamMetrics(NOTHING, NOTHING)


@dataclass(frozen=True, eq=False)
class Metrics:
    """Every recorder liveevents uses; with metrics off, each records nothing."""

    bytes_written: Count = NOTHING
    replays: Count = NOTHING
    events_replayed: Count = NOTHING
    resets: Count = NOTHING
    cut_off: Count = NOTHING
    gap_repairs: Count = NOTHING
    tick_catch_ups: Count = NOTHING
    revoked: Count = NOTHING
    lag: Distribution = NOTHING
    # The labelled ones, bound per label by stream(); None when off.
    _connections: Gauge | None = None
    _delivered: Counter | None = None
    _bound: dict[str, StreamMetrics] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self._connections is not None

    def stream(self, name: str) -> StreamMetrics:
        """The recorders of stream `name`, under its declaration's label."""
        if self._connections is None or self._delivered is None:
            return NO_STREAM_METRICS
        label = stream_label(name)
        bound = self._bound.get(label)
        if bound is None:
            bound = self._bound[label] = StreamMetrics(
                self._connections.labels(label), self._delivered.labels(label)
            )
        return bound


NO_METRICS = Metrics()


def stream_label(name: str) -> str:
    """What metrics call stream `name`: its declared name, or its family's pattern."""
    spec = get_stream(name)
    if spec is None:
        return UNDECLARED
    return spec.family.pattern if spec.family is not None else spec.name


@cache
def get_metrics() -> Metrics:
    """The process's recorders, as LIVEEVENTS["METRICS"] asks (None: on if prometheus_client is
    installed)."""
    wanted = get_config()["METRICS"]
    if wanted is None:
        wanted = AVAILABLE
    if not wanted:
        return NO_METRICS
    if not AVAILABLE:
        raise ImproperlyConfigured(
            "LIVEEVENTS['METRICS'] is True but prometheus_client is not installed: "
            "pip install 'liveevents[metrics]', or leave METRICS unset."
        )
    return _prometheus_metrics()


@receiver(setting_changed)
def _clear_metrics(*, setting: str, **kwargs: Any) -> None:
    if setting == "LIVEEVENTS":
        get_metrics.cache_clear()


def multiprocess() -> bool:
    """Whether prometheus_client writes every process's values to PROMETHEUS_MULTIPROC_DIR."""
    return "PROMETHEUS_MULTIPROC_DIR" in os.environ


@cache  # registered once per process: prometheus_client refuses a second metric of the same name
def _prometheus_metrics() -> Metrics:
    if multiprocess():
        # The gauge's file of a process that exits is removed with it; one that is killed leaves
        # its file, which mark_process_dead(pid) removes (gunicorn's child_exit hook, say).
        atexit.register(mark_process_dead, os.getpid())
    return Metrics(
        bytes_written=Counter(
            "liveevents_bytes_written", "Bytes of stream responses handed to the server to write."
        ),
        replays=Counter(
            "liveevents_replays",
            "Streams resumed from a client's position (Last-Event-ID or lastEventId), once per "
            "stream per connection.",
        ),
        events_replayed=Counter(
            "liveevents_events_replayed", "Logged events sent from the log to connections resuming a stream."
        ),
        resets=Counter(
            "liveevents_resets",
            "streamReset events sent: a client's position was pruned from the log or ahead of it.",
        ),
        cut_off=Counter(
            "liveevents_slow_clients_cut_off",
            "Connections ended because they fell QUEUE_SIZE frames behind (they reconnect and replay).",
        ),
        gap_repairs=Counter(
            "liveevents_gap_repairs",
            "Catch-ups from the log started by a wake-up that skipped ids: wake-ups the channel layer lost.",
        ),
        tick_catch_ups=Counter(
            "liveevents_tick_catch_ups",
            "Catch-ups from the log started by the periodic log check, which found a stream behind: "
            "wake-ups the channel layer lost (or, on the in-memory layer, events published by other "
            "processes).",
        ),
        revoked=Counter(
            "liveevents_access_revoked",
            "Streams taken from open connections because their reader may no longer read them.",
        ),
        lag=Histogram(
            "liveevents_commit_to_delivery_seconds",
            "Seconds from a transaction's commit to the wake-up of this process's connections to "
            "write its event, for events delivered live (wall clocks: the publisher's and this "
            "process's).",
            buckets=LAG_BUCKETS,
        ),
        _connections=Gauge(
            "liveevents_connections_open",
            "Open stream connections by the stream they follow: its declared name or its family's "
            "pattern (a connection following streams under several labels counts once under each).",
            ["stream"],
            multiprocess_mode="livesum",
        ),
        _delivered=Counter(
            "liveevents_events_delivered",
            "Logged events handed to live connections, once per connection, by the stream's declared "
            "name or family pattern.",
            ["stream"],
        ),
    )


def exposition(accept: str | None) -> tuple[bytes, str] | None:
    """The metrics of this server (of all its processes in multiprocess mode) in the format that
    `accept` asks for, Prometheus' text format by default, and its content type; None when metrics
    are off."""
    if not get_metrics().enabled:
        return None
    registry = REGISTRY
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type
