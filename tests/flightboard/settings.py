"""Test settings for the site's tests: flightboard as it runs, with a test database and fast hashers."""

import os
import tempfile

os.environ.setdefault("DJANGO_VAR_DIR", tempfile.mkdtemp(prefix="flightboard-tests-"))
os.environ.pop("REDIS_URL", None)
os.environ.pop("DATABASE_URL", None)

from flightboard.settings import *
from flightboard.settings import DATABASES, VAR_DIR

# A file, not :memory:, so the hub's threads and the test share committed data.
DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The real PostgreSQL on loopback, for the tests that need its concurrency (mark them
# django_db(databases=["default", "postgres"])); pytest-django creates test_liveevents on demand.
import dj_database_url

DATABASES["postgres"] = dj_database_url.parse(
    os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/liveevents")
)
