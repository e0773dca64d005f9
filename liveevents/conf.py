"""The LIVEEVENTS settings dict, its defaults, and a cached reader that tests can override."""

from __future__ import annotations

from functools import cache
from typing import Any, TypedDict

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


class LiveEventsConfig(TypedDict):
    """The LIVEEVENTS settings, with the defaults below filled in (the system checks validate them)."""

    HEARTBEAT: float
    RETRY: int
    QUEUE_SIZE: int
    MAX_CONNECTIONS: int
    RETRY_AFTER: int
    CATCH_UP_INTERVAL: float | None
    REPLAY_BATCH: int
    REPLAY_BYTES: int
    MAX_STREAMS_PER_CONNECTION: int
    RETENTION_DAYS: float | None
    PRUNE_INTERVAL: float | None
    SHUTDOWN_DRAIN: float | None
    REVALIDATE_INTERVAL: float
    MAX_EVENT_BYTES: int
    REQUIRE_TRANSACTION: bool
    CHANNEL_LAYER: str
    METRICS: bool | None
    METRICS_TOKEN: str | None


CONFIG_DEFAULTS: LiveEventsConfig = {
    # Seconds of silence after which a `: keepalive` comment is written.
    "HEARTBEAT": 15.0,
    # Reconnection delay sent to browsers in the first `retry:` line, in milliseconds.
    "RETRY": 2000,
    # Frames buffered per connection; a client that falls this far behind is cut off and replays.
    "QUEUE_SIZE": 1000,
    # Open connections per server process (one per response, whatever it follows); more get 503.
    "MAX_CONNECTIONS": 10_000,
    # Seconds sent in Retry-After with a 503 at the connection cap.
    "RETRY_AFTER": 5,
    # Seconds between the hub's log checks. None: 1 s when the channel layer cannot cross
    # processes (InMemoryChannelLayer), otherwise HEARTBEAT.
    "CATCH_UP_INTERVAL": None,
    # Events read from the log per query during replay and catch-up.
    "REPLAY_BATCH": 500,
    # ...and at most about this many bytes of event data per batch (at least one event), which
    # bounds what a reader that does not read can hold.
    "REPLAY_BYTES": 1024 * 1024,
    # Streams one request to the multiplexed endpoint (/events/?stream=A&stream=B) may follow.
    "MAX_STREAMS_PER_CONNECTION": 16,
    # Days of events kept by prune_events; None keeps everything.
    "RETENTION_DAYS": 7,
    # Seconds between automatic prunes by each serving process; None: only the prune_events command.
    "PRUNE_INTERVAL": None,
    # On SIGTERM, tell every open stream to reconnect soon (retry: 250) and end it, then give the
    # responses this many seconds to flush before the server's own shutdown. None: no drain.
    "SHUTDOWN_DRAIN": 0.5,
    # Seconds between re-checks of who may still read the non-public streams it has open: a
    # connection whose reader no longer may (permissions, groups, a callable's answer) loses the
    # stream within this time; a logout or a deactivation through the site ends it at once.
    "REVALIDATE_INTERVAL": 60.0,
    # The largest event data publish() accepts, in bytes of UTF-8: what every connection may have
    # to hold in its queue, and every replay read, many times over.
    "MAX_EVENT_BYTES": 1024 * 1024,
    # A save of a bound model outside any transaction commits its row before the binding writes
    # its events, and a binding that fails then leaves the row without them (it logs an error).
    # True: such a save raises TransactionManagementError before anything is written.
    "REQUIRE_TRANSACTION": False,
    # Alias in CHANNEL_LAYERS used to wake hubs up.
    "CHANNEL_LAYER": "default",
    # Prometheus metrics (liveevents.metrics): True records them (prometheus_client is needed:
    # pip install "liveevents[metrics]"), False records nothing. None: on when prometheus_client
    # is installed.
    "METRICS": None,
    # A token that reads liveevents.views.metrics_view, sent as `Authorization: Bearer <token>`, for
    # a scraper that has no staff session. None: staff users only.
    "METRICS_TOKEN": None,
}


@cache
def get_config() -> LiveEventsConfig:
    user = getattr(settings, "LIVEEVENTS", {})
    unknown = set(user) - set(CONFIG_DEFAULTS)
    if unknown:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"Unknown LIVEEVENTS setting(s): {', '.join(sorted(unknown))}. "
            f"Known settings: {', '.join(CONFIG_DEFAULTS)}."
        )
    return {**CONFIG_DEFAULTS, **user}


@receiver(setting_changed)
def _clear_config(*, setting: str, **kwargs: Any) -> None:
    if setting in ("LIVEEVENTS", "CHANNEL_LAYERS"):
        get_config.cache_clear()
