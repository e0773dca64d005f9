"""Stream declarations: which streams exist and who may read each one.

A stream is declared by name (`flights`), or a family of them by a name with one parameter
(`terminal.{code}`, `user.{id}`): every name that matches is a stream of that family, and the
family's readers decide for each one, the parameter in hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from liveevents.publish import check_stream_name

# readers(request) for a stream declared by name; readers(request, **params) for a family member.
Readers = Callable[..., bool]

# What a family's parameter may be: a name's characters but the dot, so that `flight.{code}` and
# `flight.{code}.crew` can never claim the same name.
PARAMETER = re.compile(r"[A-Za-z0-9_-]+")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def PUBLIC(request: HttpRequest, **params: str) -> bool:
    """Anyone may read, signed in or not."""
    return True


def AUTHENTICATED(request: HttpRequest, **params: str) -> bool:
    """Signed-in, active users may read."""
    return bool(request.user.is_authenticated and request.user.is_active)


def STAFF(request: HttpRequest, **params: str) -> bool:
    """Active staff users may read."""
    return bool(request.user.is_active and request.user.is_staff)


def permission(perm: str) -> Readers:
    """Users with the permission `perm` ("app_label.codename") may read."""

    def has_permission(request: HttpRequest, **params: str) -> bool:
        return bool(request.user.has_perm(perm))

    has_permission.__doc__ = f"Users with the {perm!r} permission may read."
    return has_permission


def owner(param: str) -> Readers:
    """The signed-in, active user whose primary key is the family's parameter `param` may read:
    `declare_stream("user.{id}", readers=owner("id"))` lets user 7 read `user.7` and no other."""

    def is_owner(request: HttpRequest, **params: str) -> bool:
        user = request.user
        return bool(user.is_authenticated and user.is_active and str(user.pk) == params.get(param))

    is_owner.__doc__ = f"The signed-in user whose primary key is the {param!r} parameter may read."
    return is_owner


@dataclass(frozen=True)
class StreamFamily:
    """Streams declared by a pattern with one parameter: `prefix{param}suffix`."""

    pattern: str
    param: str
    prefix: str
    suffix: str
    readers: Readers

    def match(self, name: str) -> str | None:
        """The parameter if `name` is shaped like this family's names (checked or not), else None."""
        if (
            len(name) > len(self.prefix) + len(self.suffix)
            and name.startswith(self.prefix)
            and name.endswith(self.suffix)
        ):
            return name[len(self.prefix) : len(name) - len(self.suffix)]
        return None

    def name(self, value: object) -> str:
        """The name of the family's stream for `value`, e.g. `terminal.2` for 2."""
        text = str(value)
        if not PARAMETER.fullmatch(text):
            raise ValueError(
                f"{text[:80]!r} cannot be the {self.param!r} of stream family {self.pattern!r}: "
                "use ASCII letters, digits, '_' or '-'."
            )
        return check_stream_name(f"{self.prefix}{text}{self.suffix}")


_NO_PARAMS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class StreamSpec:
    """A stream that exists: its name, its readers, and the family and parameter it comes from."""

    name: str
    readers: Readers
    family: StreamFamily | None = None
    params: Mapping[str, str] = field(default_factory=lambda: _NO_PARAMS)

    @property
    def public(self) -> bool:
        return self.readers is PUBLIC

    def allows(self, request: HttpRequest) -> bool:
        """The readers' decision for `request` (run it where the ORM may be used: sync code)."""
        if self.family is None:
            return bool(self.readers(request))
        return bool(self.readers(request, **self.params))


class UnknownStream(LookupError):
    """No declaration matches a stream name; the message says why."""


_streams: dict[str, StreamSpec] = {}
_families: dict[str, StreamFamily] = {}


def declare_stream(name: str, *, readers: Readers) -> StreamSpec | StreamFamily:
    """Declare a stream, or a family of streams with a `{param}` in its name, and who may read it:
    PUBLIC, AUTHENTICATED, STAFF, permission(...), owner(param) for a family, or any callable
    taking the request (and a family's parameter as a keyword). There is no default: every
    stream states its readers."""
    if not callable(readers):
        raise ImproperlyConfigured(
            f"Stream {name!r}: readers must be PUBLIC, AUTHENTICATED, STAFF, permission('app.codename'), "
            f"owner('param') or a callable taking the request, not {readers!r}."
        )
    if "{" in name or "}" in name:
        return _declare_family(name, readers)
    check_stream_name(name)
    existing = _streams.get(name)
    if existing is not None and existing.readers is not readers:
        raise ImproperlyConfigured(f"Stream {name!r} is already declared with other readers.")
    spec = _streams[name] = StreamSpec(name, readers)
    return spec


def _declare_family(pattern: str, readers: Readers) -> StreamFamily:
    params = _PLACEHOLDER.findall(pattern)
    if len(params) != 1 or not params[0].isidentifier() or pattern.count("{") != 1:
        raise ImproperlyConfigured(
            f"Stream family {pattern!r}: name exactly one parameter between braces, e.g. 'terminal.{{code}}'."
        )
    prefix, _, rest = pattern.partition("{")
    suffix = rest.partition("}")[2]
    try:
        check_stream_name(f"{prefix}x{suffix}")
    except ValueError:
        raise ImproperlyConfigured(
            f"Stream family {pattern!r}: around the parameter, use ASCII letters, digits, '_', '-' or '.'."
        ) from None
    family = StreamFamily(pattern, params[0], prefix, suffix, readers)
    existing = _families.get(pattern)
    if existing is not None:
        if existing.readers is not readers:
            raise ImproperlyConfigured(f"Stream family {pattern!r} is already declared with other readers.")
        return existing
    for other in _families.values():
        if _overlap(family, other):
            raise ImproperlyConfigured(
                f"Stream families {other.pattern!r} and {pattern!r} could both claim a name; "
                "make their fixed parts tell them apart (a parameter never contains '.')."
            )
    _families[pattern] = family
    return family


def _overlap(a: StreamFamily, b: StreamFamily) -> bool:
    # A name is prefix + value + suffix with no dot in the value. Two families share a name of some
    # length if, at each of its positions, their fixed characters agree, or one's fixed character
    # may stand in the other's value: `{x}.a` and `b.{y}` both claim `b.a`. Names stop at 80.
    def at(family: StreamFamily, length: int, i: int) -> str | None:
        if i < len(family.prefix):
            return family.prefix[i]
        if i >= length - len(family.suffix):
            return family.suffix[i - length + len(family.suffix)]
        return None  # in the value

    def agree(x: str | None, y: str | None) -> bool:
        if x is not None and y is not None:
            return x == y
        fixed = x if y is None else y
        return fixed is None or PARAMETER.fullmatch(fixed) is not None

    shortest = max(len(a.prefix) + len(a.suffix), len(b.prefix) + len(b.suffix)) + 1
    # Past this length, a longer name only lengthens the part where both hold their values.
    longest = min(80, max(len(a.prefix), len(b.prefix)) + max(len(a.suffix), len(b.suffix)) + 1)
    return any(
        all(agree(at(a, length, i), at(b, length, i)) for i in range(length))
        for length in range(shortest, longest + 1)
    )


def resolve_stream(name: str) -> StreamSpec:
    """The declared stream called `name`, or the family member; UnknownStream says why not."""
    spec = _streams.get(name)
    if spec is not None:
        return spec
    shaped_like: StreamFamily | None = None
    for family in _families.values():
        value = family.match(name)
        if value is None:
            continue
        if PARAMETER.fullmatch(value) and len(name) <= 80:
            return StreamSpec(name, family.readers, family, MappingProxyType({family.param: value}))
        # Not this family's (`order.5.notes` is shaped like `order.{pk}`), but maybe another's.
        shaped_like = shaped_like or family
    if shaped_like is not None:
        raise UnknownStream(
            f"Stream {name[:100]!r} is not a stream of family {shaped_like.pattern!r}: its "
            f"{shaped_like.param!r} must be ASCII letters, digits, '_' or '-', and the whole name "
            "at most 80 characters."
        )
    raise UnknownStream(f"Unknown stream {name[:100]!r}.")


def require_declared(name: object, where: str) -> str:
    """`name`, a declared stream or a member of a declared family, as code that names streams
    (a template tag, snapshot()) needs it; else UnknownStream naming `where`, the stream and how to
    declare it. A name shaped like a family's member but outside its grammar says that instead."""
    if not isinstance(name, str):
        raise UnknownStream(f"{where} takes stream names (strings), not {name!r}.")
    try:
        resolve_stream(name)
    except UnknownStream as error:
        if any(family.match(name) is not None for family in _families.values()):
            raise UnknownStream(f"{where}: {error}") from None
        raise UnknownStream(
            f"{where}: {error} A page can only follow declared streams: declare it with "
            f"liveevents.streams.declare_stream({name!r}, readers=...) in an AppConfig.ready(), "
            "or declare the family it belongs to with its parameter in braces, e.g. "
            "declare_stream('order.{pk}', readers=...); or correct the name."
        ) from None
    return name


def get_stream(name: str) -> StreamSpec | None:
    """The declared stream called `name` (or family member), None if there is none."""
    try:
        return resolve_stream(name)
    except UnknownStream:
        return None


def declared_streams() -> dict[str, StreamSpec]:
    return dict(_streams)


def declared_families() -> dict[str, StreamFamily]:
    return dict(_families)


def forget_stream(name: str) -> None:
    """Undeclare a stream or family (for tests)."""
    _streams.pop(name, None)
    _families.pop(name, None)
