"""System checks for a deployment that can actually stream: ids liveevents.E001..., W001..."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, router
from django.db.utils import load_backend

from liveevents import metrics
from liveevents.bindings import bound_models
from liveevents.conf import CONFIG_DEFAULTS
from liveevents.models import Event, Stream
from liveevents.servers import how_to_serve_asgi


@register()
def check_asgi(**kwargs: Any) -> list[Error | Warning]:
    errors: list[Error | Warning] = []
    if not getattr(settings, "ASGI_APPLICATION", None):
        errors.append(
            Error(
                "ASGI_APPLICATION is not set; streams need an ASGI server.",
                hint="Set ASGI_APPLICATION = 'yourproject.asgi.application' and serve it with "
                "daphne or uvicorn.",
                id="liveevents.E001",
            )
        )
    layers = getattr(settings, "CHANNEL_LAYERS", {})
    user = getattr(settings, "LIVEEVENTS", {})
    # A LIVEEVENTS that is not a dict is check_settings' E003; do not crash on it here.
    alias = (user if isinstance(user, dict) else {}).get("CHANNEL_LAYER", CONFIG_DEFAULTS["CHANNEL_LAYER"])
    backend = layers.get(alias, {}).get("BACKEND", "")
    if not backend:
        errors.append(
            Error(
                f"CHANNEL_LAYERS has no {alias!r} layer; published events cannot wake streams up.",
                hint="Use channels.layers.InMemoryChannelLayer for one process or "
                "channels_redis.core.RedisChannelLayer (or RedisPubSubChannelLayer) for several.",
                id="liveevents.E002",
            )
        )
    elif backend.endswith("InMemoryChannelLayer") and not settings.DEBUG:
        errors.append(
            Warning(
                "The in-memory channel layer cannot cross processes.",
                hint="Fine for a single server process (events from other processes arrive within "
                "CATCH_UP_INTERVAL, about a second); use channels_redis when you run several.",
                id="liveevents.W001",
            )
        )
    # With daphne installed but after staticfiles, runserver does not serve ASGI either; daphne's
    # own check says so (daphne.E001), and saying it twice would only add noise.
    if not apps.is_installed("daphne"):
        errors.append(
            Warning(
                "'daphne' is not in INSTALLED_APPS, so runserver serves WSGI, and stream views "
                "cannot stream under WSGI (they answer 500).",
                hint=f"{how_to_serve_asgi()} A project that never serves streams with runserver "
                "can add 'liveevents.W002' to SILENCED_SYSTEM_CHECKS.",
                id="liveevents.W002",
            )
        )
    if "django.middleware.gzip.GZipMiddleware" in getattr(settings, "MIDDLEWARE", []):
        errors.append(
            Warning(
                "GZipMiddleware is enabled; liveevents' stream views keep it from compressing their "
                "responses, but a compressing proxy in front must exempt text/event-stream too.",
                id="liveevents.W003",
            )
        )
    return errors


# What liveevents needs of a SQLite database that several processes write (the server, the admin,
# a shell, a management command): WAL, so that readers never block the writer; the write lock
# taken at BEGIN, so that two transactions that read and then write cannot deadlock on upgrading
# their locks (SQLite fails one at once, whatever the timeout); and a timeout to queue for it.
SQLITE_OPTIONS = {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 20}
_WAL = re.compile(r"journal_mode\s*=\s*['\"]?wal\b", re.IGNORECASE)


@register()
def check_databases(**kwargs: Any) -> list[Warning]:
    warnings: list[Warning] = []
    databases = getattr(settings, "DATABASES", {})
    for alias in written_databases():
        config = databases.get(alias)
        if not isinstance(config, dict) or not _is_sqlite(config.get("ENGINE")):
            continue
        options = config.get("OPTIONS") or {}
        missing = []
        if not _WAL.search(str(options.get("init_command", ""))):
            missing.append("WAL journal mode (init_command)")
        # EXCLUSIVE takes the write lock at BEGIN as well (and in WAL mode still lets readers read).
        if str(options.get("transaction_mode", "")).upper() not in ("IMMEDIATE", "EXCLUSIVE"):
            missing.append('"transaction_mode": "IMMEDIATE"')
        if not isinstance(options.get("timeout"), (int, float)) or options["timeout"] <= 0:
            missing.append("a timeout")
        if missing:
            warnings.append(
                Warning(
                    f"The {alias!r} database is SQLite without {_listed(missing)} in its OPTIONS: "
                    "liveevents writes the event log in the transaction of each bound save, and "
                    "concurrent writers (the server, the admin, a shell, a management command) can "
                    "then fail with 'database is locked'.",
                    hint=f'Set DATABASES[{json.dumps(alias)}]["OPTIONS"] = {json.dumps(SQLITE_OPTIONS)} '
                    "(an init_command of your own goes after the PRAGMA).",
                    id="liveevents.W004",
                )
            )
    return warnings


def written_databases() -> list[str]:
    """The databases liveevents writes to: the default one (publish() opens its transaction there
    when it is given no database), the ones the event log's models are routed to, and those the
    bound models are saved to (their bindings publish in the save's database)."""
    aliases = [DEFAULT_DB_ALIAS, router.db_for_write(Stream), router.db_for_write(Event)]
    aliases += [router.db_for_write(model) for model in bound_models()]
    return list(dict.fromkeys(aliases))


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _is_sqlite(engine: object) -> bool:
    if not isinstance(engine, str):
        return False
    try:
        # SQLite's own backend, or one built on it (SpatiaLite, a project's subclass).
        return bool(load_backend(engine).DatabaseWrapper.vendor == "sqlite")
    except ImproperlyConfigured:
        return False  # Django reports an ENGINE it cannot load itself


@register()
def check_settings(**kwargs: Any) -> list[Error]:
    user = getattr(settings, "LIVEEVENTS", {})
    errors: list[Error] = []
    if not isinstance(user, dict):
        return [Error("LIVEEVENTS must be a dict.", id="liveevents.E003")]
    for key in sorted(set(user) - set(CONFIG_DEFAULTS)):
        errors.append(
            Error(
                f"Unknown LIVEEVENTS setting {key!r}.",
                hint=f"Known settings: {', '.join(CONFIG_DEFAULTS)}.",
                id="liveevents.E003",
            )
        )
    if "HEARTBEAT" in user and not (isinstance(user["HEARTBEAT"], (int, float)) and user["HEARTBEAT"] > 0):
        errors.append(Error("LIVEEVENTS['HEARTBEAT'] must be a positive number.", id="liveevents.E004"))
    # Counts: the hub takes int() of them, so 0.5 would mean an unbounded queue or empty replay batches.
    counts = (
        "QUEUE_SIZE",
        "MAX_CONNECTIONS",
        "REPLAY_BATCH",
        "REPLAY_BYTES",
        "MAX_STREAMS_PER_CONNECTION",
        "MAX_EVENT_BYTES",
    )
    for key in counts:
        if key in user and not (isinstance(user[key], int) and user[key] > 0):
            errors.append(Error(f"LIVEEVENTS[{key!r}] must be a positive integer.", id="liveevents.E004"))
    if "REVALIDATE_INTERVAL" in user and not (
        isinstance(user["REVALIDATE_INTERVAL"], (int, float)) and user["REVALIDATE_INTERVAL"] > 0
    ):
        errors.append(
            Error("LIVEEVENTS['REVALIDATE_INTERVAL'] must be a positive number.", id="liveevents.E004")
        )
    if "REQUIRE_TRANSACTION" in user and not isinstance(user["REQUIRE_TRANSACTION"], bool):
        errors.append(Error("LIVEEVENTS['REQUIRE_TRANSACTION'] must be True or False.", id="liveevents.E004"))
    for key in ("RETRY", "RETRY_AFTER"):
        if key in user and not (isinstance(user[key], int) and user[key] >= 0):
            errors.append(Error(f"LIVEEVENTS[{key!r}] must be a non-negative integer.", id="liveevents.E004"))
    for key in ("CATCH_UP_INTERVAL", "RETENTION_DAYS", "PRUNE_INTERVAL", "SHUTDOWN_DRAIN"):
        if user.get(key) is not None and not (isinstance(user[key], (int, float)) and user[key] > 0):
            errors.append(
                Error(f"LIVEEVENTS[{key!r}] must be a positive number or None.", id="liveevents.E004")
            )
    if user.get("METRICS") is not None and not isinstance(user["METRICS"], bool):
        errors.append(Error("LIVEEVENTS['METRICS'] must be True, False or None.", id="liveevents.E004"))
    elif user.get("METRICS") is True and not metrics.AVAILABLE:
        errors.append(
            Error(
                "LIVEEVENTS['METRICS'] is True but prometheus_client is not installed.",
                hint="pip install 'liveevents[metrics]', or leave METRICS unset: metrics are then on "
                "when prometheus_client is installed.",
                id="liveevents.E005",
            )
        )
    elif user.get("METRICS") is not False and metrics.AVAILABLE and metrics.multiprocess():
        shared = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        if not os.path.isdir(shared):
            errors.append(
                Error(
                    f"PROMETHEUS_MULTIPROC_DIR ({shared!r}) is not a directory; metrics cannot be "
                    "recorded, and streams fail to open.",
                    hint="Create it (empty) before the server processes start, or unset it for one process.",
                    id="liveevents.E006",
                )
            )
    token = user.get("METRICS_TOKEN")
    # What an Authorization header can carry after "Bearer ", as it is.
    if token is not None and not (isinstance(token, str) and re.fullmatch(r"[!-~]+", token)):
        errors.append(
            Error(
                "LIVEEVENTS['METRICS_TOKEN'] must be None or a non-empty string of visible ASCII "
                "characters (no spaces).",
                hint="For instance: python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
                id="liveevents.E004",
            )
        )
    return errors
