"""AccessGuard: the readers' decision, taken again while connections to non-public streams are open.

Access is decided when a stream opens, and again every REVALIDATE_INTERVAL for every reader (a
session, or a user without one) and stream, whatever the number of its connections; at once for
a reader whose session ended (logout) or whose user was deactivated through this site, which the
site announces to every process through the channel layer. A connection whose reader may no
longer read a stream gets `closedConnection` `{"stream": ..., "reason": "forbidden"}` for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user, get_user_model
from django.http import HttpRequest, QueryDict
from django.http.cookie import parse_cookie

from liveevents.frames import forbidden_frame
from liveevents.log import run_in_db_thread
from liveevents.metrics import get_metrics
from liveevents.streams import StreamSpec
from liveevents.subscription import Subscription

logger = logging.getLogger(__name__)


# What a request may prove who it is with, besides a session: readers may decide on any of them.
_CREDENTIALS = ("HTTP_AUTHORIZATION", "HTTP_COOKIE", "REMOTE_ADDR")
# Query parameters of the connection itself, not of who makes it.
_POSITION_PARAMETERS = ("lastEventId", "stream")


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads: a session (its key), the user it was signed in as (either may be None), and a
    digest of what else the request could prove itself with (its Authorization header, cookies,
    address and query string, positions aside). Two requests alike in all of these get one
    decision; two that differ in any are decided apart."""

    session_key: str | None
    user_pk: str | None
    credentials: str = ""

    @classmethod
    def of(cls, request: HttpRequest) -> Reader:
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        pk = getattr(user, "pk", None)
        digest = hashlib.sha256()
        for key in _CREDENTIALS:
            digest.update(str(request.META.get(key, "")).encode("utf-8", "surrogatepass") + b"\0")
        query = sorted(
            (name, value)
            for name, values in request.GET.lists()
            if name not in _POSITION_PARAMETERS
            for value in values
        )
        digest.update(repr(query).encode("utf-8", "surrogatepass"))
        return cls(getattr(session, "session_key", None), None if pk is None else str(pk), digest.hexdigest())


@dataclass(frozen=True, slots=True)
class Guarded:
    """What the guard keeps of an admitted request to non-public streams: who reads, what the
    request said of itself (its headers, for readers that look at them), and the streams."""

    reader: Reader
    meta: Mapping[str, Any]
    specs: tuple[StreamSpec, ...]

    @classmethod
    def of(cls, request: HttpRequest, specs: tuple[StreamSpec, ...]) -> Guarded:
        meta = {key: value for key, value in request.META.items() if isinstance(value, str)}
        return cls(Reader.of(request), meta, specs)


class _Watched:
    """One reader's open connections, per stream, and what it sent of itself."""

    __slots__ = ("meta", "specs", "subscriptions")

    def __init__(self, meta: Mapping[str, Any]) -> None:
        self.meta = meta
        self.specs: dict[str, StreamSpec] = {}
        self.subscriptions: dict[str, set[Subscription]] = {}


class AccessGuard:
    """Per hub: the connections to non-public streams, by reader and stream."""

    def __init__(
        self,
        interval: float,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        membership: Callable[[bool], None],
    ) -> None:
        self.interval = interval
        self._spawn = spawn
        # Called with True when the first reader is watched, False when the last one goes: the
        # hub joins (and leaves) the group that announces access changes.
        self._membership = membership
        self.readers: dict[Reader, _Watched] = {}
        self.reader_of: dict[Subscription, Reader] = {}
        self._loop: asyncio.Task[None] | None = None

    def __bool__(self) -> bool:
        return bool(self.readers)

    def watch(self, guarded: Guarded, subscription: Subscription) -> None:
        watched = self.readers.get(guarded.reader)
        if watched is None:
            watched = self.readers[guarded.reader] = _Watched(guarded.meta)
        for spec in guarded.specs:
            watched.specs[spec.name] = spec
            watched.subscriptions.setdefault(spec.name, set()).add(subscription)
        self.reader_of[subscription] = guarded.reader
        if self._loop is None:
            self._loop = self._spawn(self._revalidate_forever())
            self._membership(True)

    def forget(self, subscription: Subscription, streams: Collection[str]) -> None:
        """Stop watching `subscription` on `streams` (the connection ended or left them)."""
        reader = self.reader_of.get(subscription)
        watched = None if reader is None else self.readers.get(reader)
        if reader is None or watched is None:
            self.reader_of.pop(subscription, None)
        else:
            for name in streams:
                subscriptions = watched.subscriptions.get(name)
                if subscriptions is None:
                    continue
                subscriptions.discard(subscription)
                if not subscriptions:
                    del watched.subscriptions[name]
                    del watched.specs[name]
            if not any(subscription in subscriptions for subscriptions in watched.subscriptions.values()):
                del self.reader_of[subscription]
            if not watched.subscriptions:
                del self.readers[reader]
        self._stop_when_empty()

    def _stop_when_empty(self) -> None:
        if not self.readers and self._loop is not None:
            self._loop.cancel()
            self._loop = None
            self._membership(False)

    def stop(self) -> None:
        self.reader_of.clear()
        self.readers.clear()
        self._stop_when_empty()

    async def _revalidate_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.revalidate()
            except Exception:
                logger.warning("Re-checking stream access failed; retrying next interval.", exc_info=True)

    async def revalidate(self, readers: Collection[Reader] | None = None) -> None:
        """Ask the readers' decision again, once per reader and stream (for `readers` only, if
        given), and end the streams of those no longer allowed."""
        asked = [
            (reader, self.readers[reader].meta, tuple(self.readers[reader].specs.values()))
            for reader in (self.readers if readers is None else readers)
            if reader in self.readers
        ]
        if asked:
            refused = await run_in_db_thread(_decide, asked)
            self._forbid(refused)

    def session_ended(self, session_key: str) -> None:
        """The session signed out: its readers lose every non-public stream, now."""
        self._forbid(
            [
                (reader, name)
                for reader, watched in self.readers.items()
                if reader.session_key == session_key
                for name in watched.specs
            ]
        )

    def user_changed(self, user_pk: str) -> Coroutine[Any, Any, None]:
        """Re-check, now, the readers signed in as this user (deactivated, say)."""
        return self.revalidate([reader for reader in self.readers if reader.user_pk == user_pk])

    def _forbid(self, refused: Collection[tuple[Reader, str]]) -> None:
        for reader, name in refused:
            watched = self.readers.get(reader)
            subscriptions = watched.subscriptions.get(name) if watched is not None else None
            if not subscriptions:
                continue
            frame = forbidden_frame(name)
            for subscription in list(subscriptions):
                subscription.offer(frame)
            get_metrics().revoked.inc(len(subscriptions))
            logger.info("Ended %d connection(s) to stream %r: access revoked.", len(subscriptions), name)
            self.forget_stream(reader, name)

    def forget_stream(self, reader: Reader, name: str) -> None:
        watched = self.readers.get(reader)
        if watched is None:
            return
        for subscription in watched.subscriptions.pop(name, ()):
            if not any(subscription in others for others in watched.subscriptions.values()):
                self.reader_of.pop(subscription, None)
        watched.specs.pop(name, None)
        if not watched.subscriptions:
            del self.readers[reader]
        self._stop_when_empty()


def _decide(
    asked: list[tuple[Reader, Mapping[str, Any], tuple[StreamSpec, ...]]],
) -> list[tuple[Reader, str]]:
    """In a log reader's thread: the (reader, stream) pairs whose readers now say no."""
    refused = []
    for reader, meta, specs in asked:
        request = _request_of(reader, meta)
        for spec in specs:
            try:
                allowed = request is not None and spec.allows(request)
            except Exception:
                # A database that hiccups must not end connections for good (a refused client does
                # not come back): the decision stands until the next interval asks again.
                logger.exception("The readers of stream %r failed; asking again next interval.", spec.name)
                continue
            if not allowed:
                refused.append((reader, spec.name))
    return refused


def _request_of(reader: Reader, meta: Mapping[str, Any]) -> HttpRequest | None:
    """A request as the reader would send it now: its session and user as the database has them
    (None if the session no longer belongs to the user it was opened by)."""
    request = HttpRequest()
    request.META = dict(meta)
    request.method = "GET"
    request.path = request.path_info = str(meta.get("PATH_INFO", "/"))
    request.GET = QueryDict(str(meta.get("QUERY_STRING", "")))
    request.COOKIES = parse_cookie(str(meta.get("HTTP_COOKIE", "")))
    if reader.session_key is None and reader.user_pk is None:
        # Here, not at the top: the models of django.contrib.auth load only if it is installed.
        from django.contrib.auth.models import AnonymousUser

        request.user = AnonymousUser()
        return request
    if reader.session_key is not None:
        engine = import_module(settings.SESSION_ENGINE)
        request.session = engine.SessionStore(reader.session_key)
        request.user = get_user(request)  # AnonymousUser if the session ended or was cut off
        if str(request.user.pk) != str(reader.user_pk) and reader.user_pk is not None:
            return None
        return request
    user = get_user_model()._default_manager.filter(pk=str(reader.user_pk)).first()
    if user is None:
        return None
    request.user = user
    return request
