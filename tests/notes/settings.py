"""The library's test project: liveevents in a small project of its own, without flightboard.

tests/liveevents runs on it (tests/project.py picks it). Its app, tests.notes, declares a public
stream (`bulletins`) and one for signed-in users (`notes`). MINIMAL_SETTINGS_DIR picks the directory
of the SQLite file (a fresh temporary one otherwise); MINIMAL_SETTINGS_BARE=1 leaves out everything
liveevents does not need (sessions, CORS, daphne), MINIMAL_SETTINGS_WITH_ADMIN=1 adds the admin.
"""

import os
import tempfile
from pathlib import Path
from typing import Any

VAR_DIR = Path(os.environ.get("MINIMAL_SETTINGS_DIR") or tempfile.mkdtemp(prefix="liveevents-tests-"))

SECRET_KEY = "liveevents-test-project-only"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "corsheaders",
    "liveevents",
    "tests.notes",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
if os.environ.get("MINIMAL_SETTINGS_BARE"):
    INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "liveevents", "tests.notes"]
    MIDDLEWARE = []
if os.environ.get("MINIMAL_SETTINGS_WITH_ADMIN"):
    INSTALLED_APPS = [
        "django.contrib.admin",
        "django.contrib.sessions",
        "django.contrib.messages",
        *INSTALLED_APPS,
    ]
    INSTALLED_APPS = list(dict.fromkeys(INSTALLED_APPS))

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# A file, not :memory:, so the hub's threads and the test share committed data.
DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(VAR_DIR / "db.sqlite3"),
        "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
        },
    }
}
if not os.environ.get("MINIMAL_SETTINGS_BARE"):
    # The real PostgreSQL on loopback, for the tests that need its concurrency (mark them
    # django_db(databases=["default", "postgres"])); pytest-django creates test_liveevents on demand.
    import dj_database_url

    DATABASES["postgres"] = dict(
        dj_database_url.parse(
            os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/liveevents")
        )
    )
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# django-cors-headers as a project would set it up for streams read from other origins.
CORS_ALLOWED_ORIGINS: list[str] = []
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/events/"
CORS_ALLOW_METHODS = ["GET", "OPTIONS"]
CORS_ALLOW_HEADERS = ["accept", "cache-control", "last-event-id"]
CORS_EXPOSE_HEADERS = ["Retry-After"]

ROOT_URLCONF = "tests.notes.urls"
STATIC_URL = "static/"
ASGI_APPLICATION = "tests.notes.settings.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}

_django_application: Any = None


async def application(scope: Any, receive: Any, send: Any) -> None:
    """Django's ASGI handler, built on first use (settings modules load before the app registry)."""
    global _django_application
    if _django_application is None:
        from django.core.asgi import get_asgi_application

        _django_application = get_asgi_application()
    await _django_application(scope, receive, send)
