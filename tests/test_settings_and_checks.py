"""LIVEEVENTS settings (defaults, overrides, cache) and the liveevents.* system checks."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.checks import Error, Warning
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from liveevents.checks import check_asgi, check_settings
from liveevents.conf import CONFIG_DEFAULTS, get_config

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
REDIS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://x"]}}}


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def all_checks() -> list[str]:
    return ids(check_asgi()) + ids(check_settings())


# get_config ------------------------------------------------------------------------------------


def test_defaults_are_documented_values(settings: Any) -> None:
    settings.LIVEEVENTS = {}
    assert get_config() == {
        "HEARTBEAT": 15.0,
        "RETRY": 2000,
        "QUEUE_SIZE": 1000,
        "MAX_CONNECTIONS": 10_000,
        "RETRY_AFTER": 5,
        "CATCH_UP_INTERVAL": None,
        "REPLAY_BATCH": 500,
        "RETENTION_DAYS": 7,
        "PRUNE_INTERVAL": None,
        "SHUTDOWN_DRAIN": 0.5,
        "CHANNEL_LAYER": "default",
    }
    assert get_config() == CONFIG_DEFAULTS


def test_defaults_apply_when_the_setting_is_absent(settings: Any) -> None:
    del settings.LIVEEVENTS
    assert get_config() == CONFIG_DEFAULTS


def test_user_values_override_defaults_key_by_key(settings: Any) -> None:
    settings.LIVEEVENTS = {"HEARTBEAT": 3, "RETENTION_DAYS": None}
    config = get_config()
    assert config["HEARTBEAT"] == 3
    assert config["RETENTION_DAYS"] is None
    assert config["RETRY"] == 2000
    assert config["QUEUE_SIZE"] == 1000


def test_config_is_cached_until_the_setting_changes(settings: Any) -> None:
    settings.LIVEEVENTS = {}
    first = get_config()
    assert get_config() is first
    settings.LIVEEVENTS = {"RETRY": 100}
    assert get_config() is not first
    assert get_config()["RETRY"] == 100


def test_override_settings_exit_restores_the_previous_config(settings: Any) -> None:
    settings.LIVEEVENTS = {"RETRY": 100}
    assert get_config()["RETRY"] == 100
    with override_settings(LIVEEVENTS={"RETRY": 7}):
        assert get_config()["RETRY"] == 7
    assert get_config()["RETRY"] == 100


def test_changing_channel_layers_also_clears_the_cache(settings: Any) -> None:
    first = get_config()
    settings.CHANNEL_LAYERS = {**IN_MEMORY, "other": IN_MEMORY["default"]}
    assert get_config() is not first


def test_unknown_keys_are_improperly_configured(settings: Any) -> None:
    settings.LIVEEVENTS = {"HEARTBEET": 5, "RETRY": 10, "AAA": 1}
    with pytest.raises(ImproperlyConfigured) as raised:
        get_config()
    message = str(raised.value)
    assert "AAA, HEARTBEET" in message
    assert "HEARTBEAT" in message.split("Known settings:")[1]


# liveevents.E001: ASGI_APPLICATION --------------------------------------------------------------


def test_project_settings_pass_every_check_but_the_silenced_w001(settings: Any) -> None:
    settings.DEBUG = False
    messages = check_asgi() + check_settings()
    assert ids(messages) == ["liveevents.W001"]
    assert all(message.is_silenced() for message in messages)


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
    settings.ASGI_APPLICATION = "flightboard.asgi.application"
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


def test_w001_is_silenced_by_flightboard_but_not_by_a_project_that_does_not_ask(settings: Any) -> None:
    settings.DEBUG = False
    settings.SILENCED_SYSTEM_CHECKS = []
    [warning] = check_asgi()
    assert warning.id == "liveevents.W001"
    assert not warning.is_silenced()


# liveevents.W002: daphne after staticfiles -----------------------------------------------------


def test_w002_when_daphne_comes_after_staticfiles(settings: Any) -> None:
    settings.DEBUG = True
    apps = [app for app in django_settings.INSTALLED_APPS if app != "daphne"]
    settings.INSTALLED_APPS = [*apps, "daphne"]
    warnings = check_asgi()
    assert ids(warnings) == ["liveevents.W002"]
    assert "before 'django.contrib.staticfiles'" in (warnings[0].hint or "")


def test_no_w002_when_daphne_comes_first(settings: Any) -> None:
    settings.DEBUG = True
    apps = list(django_settings.INSTALLED_APPS)
    assert apps.index("daphne") < apps.index("django.contrib.staticfiles")
    assert check_asgi() == []


def test_no_w002_without_daphne(settings: Any) -> None:
    settings.DEBUG = True
    settings.INSTALLED_APPS = [app for app in django_settings.INSTALLED_APPS if app != "daphne"]
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
