"""One description of a stream response, its status and headers, for the view and the router alike."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from liveevents.access import Refusal

CONTENT_TYPE = "text/event-stream; charset=utf-8"


@cache
def encoded_stream_headers(secure: bool) -> tuple[tuple[bytes, bytes], ...]:
    """stream_headers and middleware_headers, as the router sends them: the same for every
    connection, so they are made once, not kept per connection for its lifetime."""
    request = HttpRequest()
    request.is_secure = lambda: secure  # type: ignore[method-assign]
    return tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in (*stream_headers(request), *middleware_headers(request))
    )


@receiver(setting_changed)
def _clear_headers(**kwargs: Any) -> None:
    encoded_stream_headers.cache_clear()


def stream_headers(request: HttpRequest) -> list[tuple[str, str]]:
    """The headers of a 200 stream response. The router, which skips Django's middleware, also
    sends what SecurityMiddleware and XFrameOptionsMiddleware would add (middleware_headers).

    No Content-Encoding: a stream is never compressed, and an empty one says nothing to a client.
    The view keeps GZipMiddleware away through its request (views._respond); the router runs none."""
    return [
        ("Content-Type", CONTENT_TYPE),
        ("Cache-Control", "no-cache"),
        # nginx and other proxies: pass each event on at once.
        ("X-Accel-Buffering", "no"),
        # Cross-origin requests are answered with other headers (CORS, by the project's middleware).
        ("Vary", "origin"),
    ]


def middleware_headers(request: HttpRequest) -> list[tuple[str, str]]:
    """What the project's security middleware adds to a response to `request`, as it writes it."""
    headers: list[tuple[str, str]] = []
    middleware = settings.MIDDLEWARE
    if "django.middleware.security.SecurityMiddleware" in middleware:
        if settings.SECURE_HSTS_SECONDS and request.is_secure():
            value = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                value += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                value += "; preload"
            headers.append(("Strict-Transport-Security", value))
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            headers.append(("X-Content-Type-Options", "nosniff"))
        policy = settings.SECURE_REFERRER_POLICY
        if policy:
            values = [v.strip() for v in policy.split(",")] if isinstance(policy, str) else list(policy)
            headers.append(("Referrer-Policy", ",".join(values)))
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    if "django.middleware.clickjacking.XFrameOptionsMiddleware" in middleware:
        headers.append(("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()))
    return headers


def refusal_headers(refusal: Refusal) -> list[tuple[str, str]]:
    headers = [] if refusal.status == 204 else [("Content-Type", "text/plain; charset=utf-8")]
    if refusal.retry_after is not None:
        headers.append(("Retry-After", str(refusal.retry_after)))
    return headers


def refusal_body(refusal: Refusal) -> bytes:
    return b"" if refusal.status == 204 else (refusal.message + "\n").encode()


def refusal_response(refusal: Refusal) -> HttpResponse:
    """The refusal as a Django response (the middleware adds the rest)."""
    response = HttpResponse(refusal_body(refusal), status=refusal.status)
    if refusal.status == 204:
        del response["Content-Type"]
    for name, value in refusal_headers(refusal):
        response[name] = value
    return response
