"""The liveevents.* system checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.checks import Error, Warning, run_checks

from liveevents import metrics
from liveevents.checks import check_asgi, check_databases, check_settings, written_databases

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
REDIS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://x"]}}}


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


# liveevents.E001: ASGI_APPLICATION --------------------------------------------------------------


def test_a_project_on_the_in_memory_layer_gets_w001_only(settings: Any) -> None:
    settings.DEBUG = False
    assert ids(check_asgi() + check_settings()) == ["liveevents.W001"]


@pytest.mark.parametrize("value", [None, ""])
def test_e001_without_asgi_application(settings: Any, value: Any) -> None:
    settings.ASGI_APPLICATION = value
    errors = check_asgi()
    assert "liveevents.E001" in ids(errors)
    [error] = [e for e in errors if e.id == "liveevents.E001"]
    assert isinstance(error, Error)
    assert "ASGI_APPLICATION" in error.msg


def test_e001_when_asgi_application_is_not_set_at_all(settings: Any) -> None:
    del settings.ASGI_APPLICATION
    assert "liveevents.E001" in ids(check_asgi())


def test_no_e001_with_asgi_application(settings: Any) -> None:
    settings.ASGI_APPLICATION = "tests.notes.settings.application"
    assert "liveevents.E001" not in ids(check_asgi())


# liveevents.E002 / W001: the channel layer -----------------------------------------------------


@pytest.mark.parametrize("layers", [{}, {"default": {}}, {"other": IN_MEMORY["default"]}])
def test_e002_without_the_channel_layer(settings: Any, layers: dict[str, Any]) -> None:
    settings.CHANNEL_LAYERS = layers
    errors = check_asgi()
    assert ids(errors) == ["liveevents.E002"]
    assert isinstance(errors[0], Error)
    assert "'default'" in errors[0].msg


def test_e002_when_channel_layers_is_not_set(settings: Any) -> None:
    del settings.CHANNEL_LAYERS
    assert "liveevents.E002" in ids(check_asgi())


def test_e002_names_the_configured_alias(settings: Any) -> None:
    settings.CHANNEL_LAYERS = IN_MEMORY
    settings.LIVEEVENTS = {"CHANNEL_LAYER": "events"}
    errors = check_asgi()
    assert ids(errors) == ["liveevents.E002"]
    assert "'events'" in errors[0].msg


def test_no_e002_when_the_configured_alias_exists(settings: Any) -> None:
    settings.DEBUG = True
    settings.CHANNEL_LAYERS = {"events": IN_MEMORY["default"]}
    settings.LIVEEVENTS = {"CHANNEL_LAYER": "events"}
    assert check_asgi() == []


def test_w001_for_the_in_memory_layer_with_debug_off(settings: Any) -> None:
    settings.DEBUG = False
    settings.CHANNEL_LAYERS = IN_MEMORY
    warnings = check_asgi()
    assert ids(warnings) == ["liveevents.W001"]
    assert isinstance(warnings[0], Warning)
    assert "cannot cross processes" in warnings[0].msg


def test_no_w001_with_debug_on(settings: Any) -> None:
    settings.DEBUG = True
    settings.CHANNEL_LAYERS = IN_MEMORY
    assert check_asgi() == []


def test_no_w001_with_a_layer_that_crosses_processes(settings: Any) -> None:
    settings.DEBUG = False
    settings.CHANNEL_LAYERS = REDIS
    assert check_asgi() == []


# liveevents.W002: runserver would not serve ASGI ------------------------------------------------


def test_w002_without_daphne_says_how_to_serve_streams(settings: Any) -> None:
    settings.DEBUG = True
    settings.INSTALLED_APPS = [app for app in django_settings.INSTALLED_APPS if app != "daphne"]
    warnings = check_asgi()
    assert ids(warnings) == ["liveevents.W002"]
    assert "runserver serves WSGI" in warnings[0].msg
    hint = warnings[0].hint or ""
    assert "add 'daphne' to INSTALLED_APPS before 'django.contrib.staticfiles'" in hint
    assert "`daphne tests.notes.settings:application`" in hint
    assert "`uvicorn tests.notes.settings:application`" in hint


def test_w002_when_daphne_is_installed_by_its_app_config(settings: Any) -> None:
    settings.DEBUG = True
    apps = [app for app in django_settings.INSTALLED_APPS if app != "daphne"]
    settings.INSTALLED_APPS = ["daphne.apps.DaphneConfig", *apps]
    assert check_asgi() == []


def test_daphne_after_staticfiles_is_daphnes_error_alone(settings: Any) -> None:
    settings.DEBUG = True
    apps = [app for app in django_settings.INSTALLED_APPS if app != "daphne"]
    settings.INSTALLED_APPS = [*apps, "daphne"]
    reported = ids(run_checks())
    assert reported.count("daphne.E001") == 1
    assert "liveevents.W002" not in reported


def test_no_w002_when_daphne_comes_first(settings: Any) -> None:
    settings.DEBUG = True
    apps = list(django_settings.INSTALLED_APPS)
    assert apps.index("daphne") < apps.index("django.contrib.staticfiles")
    assert check_asgi() == []


# liveevents.W003: GZipMiddleware ---------------------------------------------------------------


def test_w003_with_gzip_middleware(settings: Any) -> None:
    settings.DEBUG = True
    settings.MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware", *django_settings.MIDDLEWARE]
    warnings = check_asgi()
    assert ids(warnings) == ["liveevents.W003"]
    assert "text/event-stream" in warnings[0].msg


def test_no_w003_without_gzip_middleware(settings: Any) -> None:
    settings.DEBUG = True
    assert "django.middleware.gzip.GZipMiddleware" not in django_settings.MIDDLEWARE
    assert check_asgi() == []


# liveevents.W004: SQLite that concurrent writers would find locked ------------------------------

SQLITE = "django.db.backends.sqlite3"
GOOD_OPTIONS = {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 20}


@pytest.fixture
def databases(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set DATABASES for the check alone: the connections the tests use keep theirs."""

    def use(**configs: dict[str, Any]) -> None:
        monkeypatch.setattr(django_settings, "DATABASES", configs)

    return use


def test_the_test_project_passes_w004() -> None:
    assert check_databases() == []


def test_w004_for_a_new_projects_sqlite_gives_the_options_to_paste(databases: Any) -> None:
    # What `django-admin startproject` writes.
    databases(default={"ENGINE": SQLITE, "NAME": "db.sqlite3"})
    [warning] = check_databases()
    assert warning.id == "liveevents.W004"
    assert isinstance(warning, Warning)
    assert warning.msg.startswith(
        "The 'default' database is SQLite without WAL journal mode (init_command), "
        '"transaction_mode": "IMMEDIATE" and a timeout in its OPTIONS: '
    )
    assert "database is locked" in warning.msg
    assert (warning.hint or "").startswith(
        'Set DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", '
        '"transaction_mode": "IMMEDIATE", "timeout": 20}'
    )


@pytest.mark.parametrize(
    ("options", "missing"),
    [
        ({**GOOD_OPTIONS, "init_command": "PRAGMA synchronous=NORMAL;"}, "WAL journal mode"),
        ({**GOOD_OPTIONS, "init_command": "PRAGMA journal_mode=DELETE;"}, "WAL journal mode"),
        ({k: v for k, v in GOOD_OPTIONS.items() if k != "transaction_mode"}, '"transaction_mode"'),
        ({**GOOD_OPTIONS, "transaction_mode": "DEFERRED"}, '"transaction_mode"'),
        ({k: v for k, v in GOOD_OPTIONS.items() if k != "timeout"}, "a timeout"),
    ],
)
def test_w004_names_what_is_missing(databases: Any, options: dict[str, Any], missing: str) -> None:
    databases(default={"ENGINE": SQLITE, "NAME": "db.sqlite3", "OPTIONS": options})
    [warning] = check_databases()
    named = warning.msg.split(" without ")[1].split(" in its OPTIONS")[0]
    assert named.startswith(missing)
    assert ", " not in named and " and " not in named  # only what is missing


@pytest.mark.parametrize(
    "options",
    [
        GOOD_OPTIONS,
        {"init_command": "PRAGMA journal_mode = 'wal'; PRAGMA synchronous=NORMAL;",
         "transaction_mode": "exclusive", "timeout": 5.5},
    ],
)  # fmt: skip
def test_no_w004_for_sqlite_set_up_for_concurrent_writers(databases: Any, options: dict[str, Any]) -> None:
    databases(default={"ENGINE": SQLITE, "NAME": "db.sqlite3", "OPTIONS": options})
    assert check_databases() == []


def test_no_w004_for_postgresql(databases: Any) -> None:
    databases(default={"ENGINE": "django.db.backends.postgresql", "NAME": "shop"})
    assert check_databases() == []


def test_w004_for_the_database_the_event_log_is_routed_to(databases: Any, settings: Any) -> None:
    settings.DATABASE_ROUTERS = ["tests.liveevents.test_checks.LogElsewhere"]
    assert written_databases() == ["default", "events"]
    databases(
        default={"ENGINE": "django.db.backends.postgresql", "NAME": "shop"},
        events={"ENGINE": SQLITE, "NAME": "events.sqlite3", "OPTIONS": {"timeout": 20}},
    )
    [warning] = check_databases()
    assert "'events' database" in warning.msg
    assert 'DATABASES["events"]' in (warning.hint or "")


def test_w004_ignores_databases_liveevents_does_not_write(databases: Any) -> None:
    databases(
        default={"ENGINE": "django.db.backends.postgresql", "NAME": "shop"},
        archive={"ENGINE": SQLITE, "NAME": "archive.sqlite3"},
    )
    assert check_databases() == []


class LogElsewhere:
    """A database router that keeps the event log in a database of its own."""

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return "events" if model._meta.app_label == "liveevents" else None


# liveevents.E003 / E004: the LIVEEVENTS dict --------------------------------------------------


def test_valid_liveevents_settings_pass(settings: Any) -> None:
    settings.LIVEEVENTS = {
        "HEARTBEAT": 0.5,
        "RETRY": 0,
        "QUEUE_SIZE": 1,
        "MAX_CONNECTIONS": 50,
        "RETRY_AFTER": 0,
        "CATCH_UP_INTERVAL": None,
        "REPLAY_BATCH": 100,
        "RETENTION_DAYS": None,
        "CHANNEL_LAYER": "default",
    }
    assert check_settings() == []
    settings.LIVEEVENTS = {"CATCH_UP_INTERVAL": 0.25, "RETENTION_DAYS": 1.5}
    assert check_settings() == []
    settings.LIVEEVENTS = {"METRICS": False, "METRICS_TOKEN": "s3cr3t-Token_~+/="}
    assert check_settings() == []


def test_e003_for_each_unknown_key(settings: Any) -> None:
    settings.LIVEEVENTS = {"HEARTBEET": 5, "RETRY": 100, "TIMEOUT": 1}
    errors = check_settings()
    assert ids(errors) == ["liveevents.E003", "liveevents.E003"]
    assert "'HEARTBEET'" in errors[0].msg
    assert "'TIMEOUT'" in errors[1].msg
    assert "HEARTBEAT" in (errors[0].hint or "")


@pytest.mark.parametrize("value", [["HEARTBEAT"], "HEARTBEAT=5", None, 5])
def test_e003_when_liveevents_is_not_a_dict(settings: Any, value: Any) -> None:
    settings.LIVEEVENTS = value
    errors = check_settings()
    assert ids(errors) == ["liveevents.E003"]
    assert "must be a dict" in errors[0].msg


@pytest.mark.parametrize("value", [["HEARTBEAT"], "HEARTBEAT=5", None, 5])
def test_check_asgi_does_not_crash_when_liveevents_is_not_a_dict(settings: Any, value: Any) -> None:
    # The E003 above must be reported, not hidden behind a crash of the other check.
    settings.DEBUG = True
    settings.LIVEEVENTS = value
    assert check_asgi() == []


BAD_VALUES = [
    ("HEARTBEAT", 0),
    ("HEARTBEAT", -1),
    ("HEARTBEAT", "15"),
    ("HEARTBEAT", None),
    ("QUEUE_SIZE", 0),
    ("QUEUE_SIZE", -10),
    ("QUEUE_SIZE", "1000"),
    ("QUEUE_SIZE", 0.5),
    ("MAX_CONNECTIONS", 0),
    ("MAX_CONNECTIONS", None),
    ("MAX_CONNECTIONS", 2.5),
    ("REPLAY_BATCH", 0),
    ("REPLAY_BATCH", 0.5),
    ("RETRY", -1),
    ("RETRY", 2.5),
    ("RETRY", "2000"),
    ("RETRY", None),
    ("RETRY_AFTER", -1),
    ("RETRY_AFTER", 1.5),
    ("CATCH_UP_INTERVAL", 0),
    ("CATCH_UP_INTERVAL", -1),
    ("CATCH_UP_INTERVAL", "1"),
    ("RETENTION_DAYS", 0),
    ("RETENTION_DAYS", -7),
    ("RETENTION_DAYS", "7"),
    ("METRICS", 1),
    ("METRICS", "yes"),
    ("METRICS_TOKEN", ""),
    ("METRICS_TOKEN", "two words"),
    ("METRICS_TOKEN", "naïve"),
    ("METRICS_TOKEN", 12345),
]


@pytest.mark.parametrize(("key", "value"), BAD_VALUES)
def test_e004_for_a_bad_value(settings: Any, key: str, value: Any) -> None:
    settings.LIVEEVENTS = {key: value}
    errors = check_settings()
    assert ids(errors) == ["liveevents.E004"]
    assert repr(key) in errors[0].msg


def test_e004_once_per_bad_value(settings: Any) -> None:
    settings.LIVEEVENTS = {"HEARTBEAT": 0, "RETRY": -1, "RETENTION_DAYS": 0, "UNKNOWN": 1}
    assert sorted(ids(check_settings())) == [
        "liveevents.E003",
        "liveevents.E004",
        "liveevents.E004",
        "liveevents.E004",
    ]


def test_several_problems_are_reported_together(settings: Any) -> None:
    settings.DEBUG = False
    del settings.ASGI_APPLICATION
    settings.MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware"]
    settings.CHANNEL_LAYERS = IN_MEMORY
    assert ids(check_asgi()) == ["liveevents.E001", "liveevents.W001", "liveevents.W003"]


# liveevents.E005: metrics asked for without prometheus_client -------------------------------------


def test_e005_when_metrics_are_on_without_prometheus_client(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "AVAILABLE", False)
    settings.LIVEEVENTS = {"METRICS": True}
    errors = check_settings()
    assert ids(errors) == ["liveevents.E005"]
    assert "liveevents[metrics]" in (errors[0].hint or "")
    settings.LIVEEVENTS = {}  # unset: off without prometheus_client, and no error
    assert check_settings() == []


def test_no_e005_when_prometheus_client_is_installed(settings: Any) -> None:
    assert metrics.AVAILABLE
    settings.LIVEEVENTS = {"METRICS": True}
    assert check_settings() == []


# liveevents.E006: multiprocess mode without its directory -----------------------------------------


def test_e006_when_the_multiprocess_directory_is_missing(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings.LIVEEVENTS = {}
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    errors = check_settings()
    assert ids(errors) == ["liveevents.E006"]
    assert "missing" in errors[0].msg
    settings.LIVEEVENTS = {"METRICS": False}  # nothing is recorded: nothing to check
    assert check_settings() == []
    settings.LIVEEVENTS = {}
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert check_settings() == []
