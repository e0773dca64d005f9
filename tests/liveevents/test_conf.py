"""LIVEEVENTS settings: defaults, overrides and the cached reader."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from liveevents.conf import CONFIG_DEFAULTS, get_config

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


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
        "REPLAY_BYTES": 1024 * 1024,
        "MAX_STREAMS_PER_CONNECTION": 16,
        "RETENTION_DAYS": 7,
        "PRUNE_INTERVAL": None,
        "SHUTDOWN_DRAIN": 0.5,
        "REVALIDATE_INTERVAL": 60.0,
        "MAX_EVENT_BYTES": 1024 * 1024,
        "REQUIRE_TRANSACTION": False,
        "CHANNEL_LAYER": "default",
        "METRICS": None,
        "METRICS_TOKEN": None,
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
