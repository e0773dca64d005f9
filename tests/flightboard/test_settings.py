"""flightboard's settings: liveevents' system checks, the environment's switches, `check --deploy`."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

import flightboard.settings
from benchmarks.support.sites import MANAGE, site_env
from liveevents.checks import check_asgi, check_databases, check_settings


def test_project_settings_pass_every_check_but_the_silenced_w001(settings: Any) -> None:
    settings.DEBUG = False
    messages = check_asgi() + check_settings() + check_databases()
    assert [message.id for message in messages] == ["liveevents.W001"]
    assert all(message.is_silenced() for message in messages)


def test_w001_is_silenced_by_flightboard_but_not_by_a_project_that_does_not_ask(settings: Any) -> None:
    settings.DEBUG = False
    settings.SILENCED_SYSTEM_CHECKS = []
    [warning] = check_asgi()
    assert warning.id == "liveevents.W001"
    assert not warning.is_silenced()


def test_the_default_sqlite_database_passes_w004(monkeypatch: pytest.MonkeyPatch) -> None:
    # WAL, immediate transactions and a timeout: the simulator, the admin and the streams write
    # the same file at once.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    databases = site_settings(monkeypatch)["DATABASES"]
    assert databases["default"]["ENGINE"] == "django.db.backends.sqlite3"
    monkeypatch.setattr(django_settings, "DATABASES", databases)
    assert check_databases() == []


# Settings from the environment --------------------------------------------------------------

HTTPS_VARIABLES = (
    "DJANGO_HTTPS",
    "DJANGO_SECURE_PROXY_SSL_HEADER",
    "DJANGO_SSL_REDIRECT",
    "DJANGO_SECURE_COOKIES",
    "DJANGO_HSTS_SECONDS",
    "DJANGO_HSTS_INCLUDE_SUBDOMAINS",
    "DJANGO_HSTS_PRELOAD",
)


def site_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """flightboard.settings as a process started with `env` (and none of the HTTPS variables
    otherwise) would have them."""
    for name in (*HTTPS_VARIABLES, "REDIS_URL", "DJANGO_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(flightboard.settings.__file__)


def https_settings(values: dict[str, Any]) -> dict[str, Any]:
    names = [
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
    ]
    return {name: values.get(name) for name in names}


def test_https_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert https_settings(site_settings(monkeypatch)) == {
        "SECURE_PROXY_SSL_HEADER": None,
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
    }


def test_django_https_turns_on_every_https_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert https_settings(site_settings(monkeypatch, DJANGO_HTTPS="1")) == {
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
    }


def test_each_https_setting_has_its_own_override(monkeypatch: pytest.MonkeyPatch) -> None:
    values = site_settings(
        monkeypatch,
        DJANGO_HTTPS="1",
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Scheme",
        DJANGO_SSL_REDIRECT="0",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_HSTS_SECONDS="3600",
        DJANGO_HSTS_INCLUDE_SUBDOMAINS="0",
        DJANGO_HSTS_PRELOAD="0",
    )
    assert https_settings(values) == {
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_SCHEME", "https"),
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
    }
    # TLS ended by the server itself (no proxy): no header to trust.
    no_proxy = site_settings(monkeypatch, DJANGO_HTTPS="1", DJANGO_SECURE_PROXY_SSL_HEADER="")
    assert "SECURE_PROXY_SSL_HEADER" not in no_proxy
    # Parts of it without the switch, e.g. HSTS tried for an hour first.
    assert site_settings(monkeypatch, DJANGO_HSTS_SECONDS="3600")["SECURE_HSTS_SECONDS"] == 3600


def test_hsts_seconds_that_are_not_a_number_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        ImproperlyConfigured, match=r"DJANGO_HSTS_SECONDS must be a whole number, not 'a year'"
    ):
        site_settings(monkeypatch, DJANGO_HTTPS="1", DJANGO_HSTS_SECONDS="a year")


def check_deploy(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`manage.py check --deploy --fail-level WARNING` with DEBUG off, in another process."""
    variables = site_env(tmp_path / "var", {"DJANGO_DEBUG": "0", **env})
    return subprocess.run(
        [sys.executable, str(MANAGE), "check", "--deploy", "--fail-level", "WARNING"],
        env=variables,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_no_warning_with_https_on(tmp_path: Path) -> None:
    done = check_deploy(tmp_path, DJANGO_HTTPS="1")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip() == "System check identified no issues (1 silenced)."


def test_check_deploy_lists_the_https_warnings_with_https_off(tmp_path: Path) -> None:
    done = check_deploy(tmp_path)
    assert done.returncode == 1
    warnings = re.findall(r"\((security\.W\d+)\)", done.stderr)
    assert warnings == ["security.W004", "security.W008", "security.W012", "security.W016"]


def test_redis_layer_forgets_a_dead_processs_channel_within_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    layers = site_settings(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/0")["CHANNEL_LAYERS"]
    config = layers["default"]["CONFIG"]
    assert config["group_expiry"] == 300
    # The layer takes it as given (no connection is made here), and the hub renews each
    # membership three times within it.
    layer = RedisChannelLayer(**config)
    assert layer.group_expiry == 300
