"""The smallest project that uses liveevents: no flightboard, no admin, no static files.

Used by tests/test_bindings.py in a subprocess to show that liveevents stands on its own.
MINIMAL_SETTINGS_DIR picks the directory of the SQLite file (a fresh temporary one otherwise);
MINIMAL_SETTINGS_WITH_ADMIN=1 adds django.contrib.admin, so liveevents.admin can be imported too.
"""

import os
import tempfile
from pathlib import Path
from typing import Any

VAR_DIR = Path(os.environ.get("MINIMAL_SETTINGS_DIR") or tempfile.mkdtemp(prefix="liveevents-minimal-"))

SECRET_KEY = "minimal-settings-for-tests-only"
DEBUG = False
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "liveevents",
    "tests.notes",
]
if os.environ.get("MINIMAL_SETTINGS_WITH_ADMIN"):
    INSTALLED_APPS.insert(0, "django.contrib.admin")

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "db.sqlite3")}}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

ROOT_URLCONF = "liveevents.urls"
ASGI_APPLICATION = "tests.minimal_settings.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_django_application: Any = None


async def application(scope: Any, receive: Any, send: Any) -> None:
    """Django's ASGI handler, built on first use (settings modules load before the app registry)."""
    global _django_application
    if _django_application is None:
        from django.core.asgi import get_asgi_application

        _django_application = get_asgi_application()
    await _django_application(scope, receive, send)
