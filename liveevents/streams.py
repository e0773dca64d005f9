"""Stream declarations: which streams exist and who may read each one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from liveevents.publish import check_stream_name

Readers = Callable[[HttpRequest], bool]


def PUBLIC(request: HttpRequest) -> bool:
    """Anyone may read, signed in or not."""
    return True


def AUTHENTICATED(request: HttpRequest) -> bool:
    """Signed-in, active users may read."""
    return bool(request.user.is_authenticated and request.user.is_active)


def STAFF(request: HttpRequest) -> bool:
    """Active staff users may read."""
    return bool(request.user.is_active and request.user.is_staff)


def permission(perm: str) -> Readers:
    """Users with the permission `perm` ("app_label.codename") may read."""

    def has_permission(request: HttpRequest) -> bool:
        return bool(request.user.has_perm(perm))

    has_permission.__doc__ = f"Users with the {perm!r} permission may read."
    return has_permission


@dataclass(frozen=True)
class StreamSpec:
    name: str
    readers: Readers


_streams: dict[str, StreamSpec] = {}


def declare_stream(name: str, *, readers: Readers) -> StreamSpec:
    """Declare a stream and who may read it (PUBLIC, AUTHENTICATED, STAFF, permission(...),
    or any callable taking the request). There is no default: every stream states its readers."""
    check_stream_name(name)
    if not callable(readers):
        raise ImproperlyConfigured(
            f"Stream {name!r}: readers must be PUBLIC, AUTHENTICATED, STAFF, permission('app.codename') "
            f"or a callable taking the request, not {readers!r}."
        )
    existing = _streams.get(name)
    if existing is not None and existing.readers is not readers:
        raise ImproperlyConfigured(f"Stream {name!r} is already declared with other readers.")
    spec = _streams[name] = StreamSpec(name, readers)
    return spec


def get_stream(name: str) -> StreamSpec | None:
    return _streams.get(name)


def declared_streams() -> dict[str, StreamSpec]:
    return dict(_streams)


def forget_stream(name: str) -> None:
    """Undeclare a stream (for tests)."""
    _streams.pop(name, None)
