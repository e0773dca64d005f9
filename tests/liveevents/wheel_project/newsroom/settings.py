"""The smallest project on an installed liveevents: one public stream, SQLite, in-memory layer."""

import os
from pathlib import Path

SECRET_KEY = "wheel-project-for-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "liveevents", "newsroom"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(Path(os.environ["NEWSROOM_DIR"]) / "db.sqlite3"),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
        },
    }
}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
SILENCED_SYSTEM_CHECKS = [
    "liveevents.W001",  # one process; other writers arrive within a second
    "liveevents.W002",  # served by `daphne newsroom.asgi:application`, never by runserver
]
ROOT_URLCONF = "newsroom.urls"
ASGI_APPLICATION = "newsroom.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
