"""Settings for the flightboard site, read from the environment with embedded defaults.

Embedded default: SQLite in DJANGO_VAR_DIR (./var) and the in-memory channel layer, one process.
DATABASE_URL picks another database; REDIS_URL switches to channels_redis for several processes;
DJANGO_HTTPS=1 for a site served over TLS.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import warnings
from pathlib import Path

import dj_database_url
import django
from django.core.exceptions import ImproperlyConfigured

# What this process creates is readable by its user alone, whoever comes first (`make run`, a
# management command, daphne): the database and the -wal/-shm files SQLite makes beside it,
# the secret key, the passwords, the collected static files. The mask is the process's, so it
# also covers files made outside var/ (a migration written by makemigrations is 0600 too); a
# stricter mask already in force is kept.
os.umask(os.umask(0o077) | 0o077)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DJANGO_VAR_DIR", BASE_DIR / "var"))


def _close_var_dir(var_dir: Path) -> None:
    """Create `var_dir` for its owner alone (0700), or close one that others can enter, with
    everything in it (made by an older version, or copied with its modes)."""
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = var_dir.stat().st_mode
    if not mode & 0o077:
        return
    try:
        var_dir.chmod(stat.S_IMODE(mode) & 0o700)
        for folder, dirs, files in os.walk(var_dir):
            for name in [*dirs, *files]:
                path = Path(folder, name)
                mode = path.lstat().st_mode
                # A link is left alone: what it points to is not var/'s.
                if not stat.S_ISLNK(mode) and mode & 0o077:
                    path.chmod(stat.S_IMODE(mode) & 0o700)
    except OSError as error:
        warnings.warn(
            f"{var_dir} and its files can be read by other users and could not be closed ({error}): "
            f"run `chmod -R go= {var_dir}`.",
            RuntimeWarning,
            stacklevel=2,
        )
    else:
        warnings.warn(
            f"{var_dir} could be read by other users: it and the files in it are now its owner's alone.",
            RuntimeWarning,
            stacklevel=2,
        )


_close_var_dir(VAR_DIR)


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def _secret_key() -> str:
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    # A key made once per machine and kept out of the repository.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DJANGO_DEBUG")
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "liveevents",
    "flightboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "flightboard.urls"
ASGI_APPLICATION = "flightboard.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.config(default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several writers (admin, simulator, shell) share one file: WAL lets readers run beside the
    # writer, IMMEDIATE takes the write lock at BEGIN (no upgrade deadlocks), and the timeout
    # makes writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # No client-side read timeout: the layer's blocking pop waits longer than
            # redis-py 8's default of 5 s, which would otherwise break every idle receive.
            "CONFIG": {
                "hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": None}],
                # Sites sharing one Redis database must not hear each other's wake-ups.
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi"),
                # A process that dies without leaving its groups (SIGKILL, OOM) stays a member
                # until this expiry: Redis keeps queueing wake-ups for its channel and every save
                # logs "over capacity" until then (channels_redis's default is a day). The hub
                # renews its memberships three times per expiry, so minutes are enough.
                "group_expiry": 300,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # One server process by design here: writers in other processes reach it through the
    # hub's one-second log check, so the in-memory layer warning does not apply.
    SILENCED_SYSTEM_CHECKS = ["liveevents.W001"]

# LIVEEVENTS_CONFIG: JSON overrides of liveevents' settings, e.g. '{"HEARTBEAT": 5, "QUEUE_SIZE": 200}'.
LIVEEVENTS: dict[str, object] = json.loads(os.environ.get("LIVEEVENTS_CONFIG") or "{}")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Django's storages chmod what they save to this (0644 by default), whatever the umask: the
# collected static files in var/ are the owner's alone like the rest.
FILE_UPLOAD_PERMISSIONS = 0o600

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Streams may be read cross-origin only from this allow-list, matched on Origin.
CORS_ALLOWED_ORIGINS = _env_list("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/events/"
CORS_ALLOW_METHODS = ["GET", "OPTIONS"]
CORS_ALLOW_HEADERS = ["accept", "cache-control", "last-event-id"]
CORS_EXPOSE_HEADERS = ["Retry-After"]

# Django's own sign-in pages (/accounts/login/, a POST to /accounts/logout/); "My flights" after.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "my_flights"
LOGOUT_REDIRECT_URL = "board"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Served over TLS (DJANGO_HTTPS=1): what `check --deploy` asks for, each part with its own
# override. The proxy header is trusted only if the proxy in front sets it on every request.
_https = _env_bool("DJANGO_HTTPS")
_proxy_ssl_header = os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto" if _https else "")
if _proxy_ssl_header.strip():
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.strip().upper().replace("-", "_"), "https")
SECURE_SSL_REDIRECT = _env_bool("DJANGO_SSL_REDIRECT", _https)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _env_bool("DJANGO_SECURE_COOKIES", _https)
SECURE_HSTS_SECONDS = _env_int("DJANGO_HSTS_SECONDS", 31_536_000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", _https)
SECURE_HSTS_PRELOAD = _env_bool("DJANGO_HSTS_PRELOAD", _https)

# Content-Security-Policy on every page, the admin's included: scripts, styles, images, fonts and
# connections from this origin only (no inline script or style, no eval), no plugins, never
# framed, forms and <base> pointing here. Django 6 sends it itself, django-csp on Django 5.2;
# the header is the same.
if django.VERSION >= (6, 0):
    from django.utils import csp as django_csp

    SECURE_CSP = {
        "default-src": [django_csp.CSP.SELF],
        "base-uri": [django_csp.CSP.SELF],
        "form-action": [django_csp.CSP.SELF],
        "frame-ancestors": [django_csp.CSP.NONE],
        "object-src": [django_csp.CSP.NONE],
    }
    _csp_middleware = "django.middleware.csp.ContentSecurityPolicyMiddleware"
else:
    from csp import constants as django_csp_constants

    CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {
            "default-src": [django_csp_constants.SELF],
            "base-uri": [django_csp_constants.SELF],
            "form-action": [django_csp_constants.SELF],
            "frame-ancestors": [django_csp_constants.NONE],
            "object-src": [django_csp_constants.NONE],
        }
    }
    _csp_middleware = "csp.middleware.CSPMiddleware"
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, _csp_middleware)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
