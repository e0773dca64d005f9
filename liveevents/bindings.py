"""Bindings: "model M feeds streams S(instance)", as receivers of the model's signals that publish.

A binding names one stream (`stream="flights"`) or computes an instance's streams
(`streams=lambda flight: ["flights", f"terminal.{flight.terminal}"]`). A save publishes the saved
event on each stream the instance is in and, when the save moved it, the deleted event on each
stream it left; a delete publishes the deleted event on each of its streams. The deleted event
carries what the saved event does unless the binding says otherwise. Bulk writes send no signals:
publish_saved() and track_changes() publish what the bindings would have.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import models, router, transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.db.transaction import TransactionManagementError

from liveevents.conf import get_config
from liveevents.models import Event
from liveevents.publish import encode_data, publish_many
from liveevents.rendering import TemplateFragment
from liveevents.sse import check_field_value
from liveevents.streams import get_stream

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=models.Model)
# What track_changes() was given, yielded back as it is: a queryset stays one (for its update()).
Objects = TypeVar("Objects", bound=Iterable[models.Model])

# A model instance to the event's data: a string as it is, anything else as JSON (publish()).
Serializer = Callable[[M], object]
# A model instance to the names of the streams it feeds.
Router = Callable[[M], Iterable[str]]

# Where a save's pre_save receiver leaves the streams the row was in before it, per binding.
_BEFORE = "_liveevents_streams_before"


def primary_key_only(instance: models.Model) -> dict[str, Any]:
    """A serializer of the primary key alone, `{"pk": 42}`: for a deleted event that carries no
    more than the key (`serialize_deleted=primary_key_only`)."""
    return {"pk": instance.pk}


def deleted_serializer(serialize: Serializer[M]) -> Serializer[M]:
    """What a deleted event carries when bind() is given no serialize_deleted: what the saved
    event carries, so that a client finds the row on a delete the way it finds it on a save (the
    instance still holds its fields in post_delete). A rendered template is rendered with
    `action` "deleted", so that it can tell the two apart (and remove the row, not show it)."""
    if isinstance(serialize, TemplateFragment):
        return replace(serialize, action="deleted")
    return serialize


@dataclass(frozen=True)
class ModelBinding(Generic[M]):
    model: type[M]
    route: Router[M]
    saved_event: str
    deleted_event: str | None
    serialize: Serializer[M]
    serialize_deleted: Serializer[M]
    # Routed: the streams depend on the instance, so a save may move it from some to others.
    routed: bool
    key: str

    def streams(self, instance: M) -> tuple[str, ...]:
        """The streams `instance` feeds, each a declared stream or a member of a declared family."""
        names = tuple(dict.fromkeys(self.route(instance)))
        for name in names:
            if not isinstance(name, str) or get_stream(name) is None:
                raise ImproperlyConfigured(
                    f"The binding of {self.model._meta.label} routed {instance!r} to {name!r}, which "
                    "is not a declared stream nor a stream of a declared family (declare_stream)."
                )
        return names

    def saved_events(self, instance: M, before: Sequence[str] = ()) -> list[tuple[str, str, object]]:
        """The events of a save of `instance` that was in the streams `before`."""
        now = self.streams(instance)
        events: list[tuple[str, str, object]] = []
        left = [name for name in before if name not in now]
        if left and self.deleted_event is not None:
            removal = encode_data(self.serialize_deleted(instance))
            events.extend((name, self.deleted_event, removal) for name in left)
        if now:
            data = encode_data(self.serialize(instance))
            events.extend((name, self.saved_event, data) for name in now)
        return events

    def deleted_events(
        self, instance: M, streams: Sequence[str] | None = None
    ) -> list[tuple[str, str, object]]:
        if self.deleted_event is None:
            return []
        names = self.streams(instance) if streams is None else streams
        if not names:
            return []
        data = encode_data(self.serialize_deleted(instance))
        return [(name, self.deleted_event, data) for name in names]

    def on_pre_save(self, sender: type[M], instance: M, raw: bool = False, **kwargs: Any) -> None:
        if raw:
            return
        using = kwargs.get("using")
        if get_config()["REQUIRE_TRANSACTION"] and not transaction.get_connection(using).in_atomic_block:
            raise TransactionManagementError(
                f"{self.model._meta.label} is bound to live streams and LIVEEVENTS['REQUIRE_TRANSACTION'] "
                "is on: save it inside transaction.atomic(), so that the row and its events commit "
                "together (outside one, the row commits before its events are written)."
            )
        if not self.routed or instance.pk is None:
            return
        # The streams of the row as the database has it: the instance in hand may be stale, or
        # already changed by the code about to save it.
        rows = self.model._base_manager.using(using).filter(pk=instance.pk)
        if transaction.get_connection(using).in_atomic_block:
            # Locked until the save commits: a concurrent save that moves the row waits, then
            # reads where this one put it, so no stream it left is forgotten.
            rows = rows.select_for_update()
        row = rows.first()
        before = instance.__dict__.setdefault(_BEFORE, {})
        before[self.key] = self.streams_before(row) if row is not None else ()

    def streams_before(self, row: M) -> tuple[str, ...]:
        """The streams a row as stored was on, those that exist: a row stored with a value no
        stream can be named by (saved before its binding, or by raw SQL) can still be mended."""
        return tuple(
            name for name in dict.fromkeys(self.route(row)) if isinstance(name, str) and get_stream(name)
        )

    def on_save(self, sender: type[M], instance: M, raw: bool = False, **kwargs: Any) -> None:
        if raw:  # loaddata: fixtures are not news
            return
        before = instance.__dict__.get(_BEFORE, {}).pop(self.key, ()) if self.routed else ()
        using = kwargs.get("using")
        if transaction.get_connection(using).in_atomic_block:
            # A failure rolls the save back with it: no row without its events.
            publish_many(self.saved_events(instance, before), using=using)
            return
        try:
            # The serializer runs in the transaction that publishes, as in the branch above.
            with transaction.atomic(using=using):
                publish_many(self.saved_events(instance, before), using=using)
        except Exception:
            # Saved outside any transaction, the row committed before this ran: it stays, without
            # its events, and open pages never hear of it. Say so, naming the row.
            logger.error(
                "%s pk=%r was saved outside a transaction and committed, but its events could not "
                "be published: pages following its streams do not show this change. Save it inside "
                "transaction.atomic() (or set LIVEEVENTS['REQUIRE_TRANSACTION']) so that a failure "
                "rolls the save back.",
                self.model._meta.label,
                instance.pk,
                exc_info=True,
            )
            raise

    def on_delete(self, sender: type[M], instance: M, **kwargs: Any) -> None:
        publish_many(self.deleted_events(instance), using=kwargs.get("using"))

    def dispatch_uid(self, signal: str) -> str:
        return f"liveevents:{self.key}:{signal}"


_bindings: dict[type[models.Model], list[ModelBinding[Any]]] = {}


def bind(
    model: type[M],
    *,
    stream: str | None = None,
    streams: Router[M] | None = None,
    saved_event: str,
    deleted_event: str | None = None,
    serialize: Serializer[M],
    serialize_deleted: Serializer[M] | None = None,
) -> ModelBinding[M]:
    """Publish `saved_event` after each save of `model` and, if given, `deleted_event` after each
    delete: on `stream`, a declared stream, or on the streams `streams(instance)` names, each a
    declared stream or a member of a declared family. When a save changes an instance's streams,
    it gets `deleted_event` on each stream it left, in the save's transaction.

    `serialize(instance)` is a saved event's data; `serialize_deleted(instance)` a deleted
    event's, by default the same as a saved event's (a rendered() template gets `action`
    "deleted"): see deleted_serializer()."""
    if (stream is None) == (streams is None):
        raise ImproperlyConfigured(
            f"Bind {model._meta.label} with stream='name' (one stream) or streams=callable "
            "(the instance's streams), not both or neither."
        )
    if stream is not None and get_stream(stream) is None:
        raise ImproperlyConfigured(
            f"Cannot bind {model._meta.label} to stream {stream!r}: declare it first with "
            f"liveevents.streams.declare_stream({stream!r}, readers=...)."
        )
    if streams is not None and not callable(streams):
        raise ImproperlyConfigured(
            f"Binding of {model._meta.label}: streams must be a callable taking an instance and "
            f"returning its stream names, not {streams!r}."
        )
    # `is None`, not falsiness: an empty name must be refused here, not on every save or delete.
    for name in [saved_event] if deleted_event is None else [saved_event, deleted_event]:
        try:
            check_field_value("event name", name)
        except ValueError as error:
            raise ImproperlyConfigured(str(error)) from None
    route: Router[M]
    if streams is None:
        assert stream is not None
        fixed = (stream,)

        def route(instance: M) -> Iterable[str]:
            return fixed

        target = stream
    else:
        route = streams
        target = _callable_name(streams)
    binding = ModelBinding(
        model,
        route,
        saved_event,
        deleted_event,
        serialize,
        deleted_serializer(serialize) if serialize_deleted is None else serialize_deleted,
        routed=streams is not None,
        key=f"{model._meta.label}:{target}:{saved_event}",
    )
    # The same binding made again (ready() run twice, a test) replaces the one before: Django
    # keeps the first receiver of a dispatch_uid, so it goes first.
    unbind(binding)
    pre_save.connect(
        binding.on_pre_save, sender=model, weak=False, dispatch_uid=binding.dispatch_uid("pre_save")
    )
    post_save.connect(binding.on_save, sender=model, weak=False, dispatch_uid=binding.dispatch_uid("save"))
    if deleted_event is not None:
        post_delete.connect(
            binding.on_delete, sender=model, weak=False, dispatch_uid=binding.dispatch_uid("delete")
        )
    registered = _bindings.setdefault(model, [])
    registered[:] = [other for other in registered if other.key != binding.key]
    registered.append(binding)
    return binding


def _callable_name(function: Callable[..., Any]) -> str:
    """A routed binding's part of its key: the same for the same function bound again (ready()
    run twice), different for two lambdas of one scope, which share a qualified name."""
    name = f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', repr(function))}"
    code = getattr(function, "__code__", None)
    return name if code is None else f"{name}@{code.co_firstlineno}"


def unbind(binding: ModelBinding[Any]) -> None:
    """Disconnect a binding's receivers (for tests)."""
    pre_save.disconnect(sender=binding.model, dispatch_uid=binding.dispatch_uid("pre_save"))
    post_save.disconnect(sender=binding.model, dispatch_uid=binding.dispatch_uid("save"))
    post_delete.disconnect(sender=binding.model, dispatch_uid=binding.dispatch_uid("delete"))
    registered = _bindings.get(binding.model, [])
    registered[:] = [other for other in registered if other.key != binding.key]


def bindings_of(model: type[models.Model]) -> list[ModelBinding[Any]]:
    """The bindings of `model`, in the order they were made."""
    return list(_bindings.get(model, ()))


def bound_models() -> list[type[models.Model]]:
    """The models that have bindings."""
    return [model for model, bindings in _bindings.items() if bindings]


# Bulk writes -------------------------------------------------------------------------------------


def publish_saved(objects: Iterable[M], *, using: str | None = None) -> list[Event]:
    """Publish what the bindings would have published had each of `objects` (a list of instances,
    or a queryset, read now) been saved one by one: the saved event on each of its streams. For
    rows written by bulk_create(), bulk_update() or QuerySet.update(), which send no signals.

    In the current transaction (the events are logged with the rows, or not at all), one wake-up
    per stream. A change that moves rows between streams needs track_changes() instead, which
    also sends the deleted events on the streams they left.
    """
    return _publish_each(objects, using, ModelBinding.saved_events)


def publish_deleted(objects: Iterable[M], *, using: str | None = None) -> list[Event]:
    """Publish the deleted events of `objects` (instances still holding their fields), for rows
    removed without signals (raw SQL, QuerySet._raw_delete). QuerySet.delete() sends signals and
    needs no call."""
    return _publish_each(objects, using, ModelBinding.deleted_events)


def _publish_each(
    objects: Iterable[M],
    using: str | None,
    events_of: Callable[[ModelBinding[Any], Any], list[tuple[str, str, object]]],
) -> list[Event]:
    # In the transaction that publishes: a serializer that reads more than its instance reads
    # it as new as the events before it (lock_streams()).
    instances, alias = _instances(objects, using)
    with transaction.atomic(using=alias):
        events = [
            event
            for instance in instances
            for binding in _of(instance)
            for event in events_of(binding, instance)
        ]
        return publish_many(events, using=alias)


@contextmanager
def track_changes(objects: Objects, *, using: str | None = None) -> Iterator[Objects]:
    """Record the streams of `objects` (instances or a queryset) as the database has them, run the
    block (which changes them in bulk), then publish what the bindings would have for each row:
    the deleted event on each stream it left, the saved event on each it is in, and the deleted
    events of rows the block removed without signals (QuerySet.delete() sends its own). Yields
    `objects`:

        with track_changes(Flight.objects.filter(terminal="1")) as flights:
            flights.update(terminal="2")

    Everything runs in one transaction (the current one, if any): the events commit with the
    change or not at all, one wake-up per stream.
    """
    model, pks, alias = _primary_keys(objects, using)
    with transaction.atomic(using=alias):
        before = {instance.pk: instance for instance in _rows(model, pks, alias, lock=True)}
        streams_before = {
            (binding.key, pk): binding.streams_before(instance)
            for pk, instance in before.items()
            for binding in _of(instance)
        }
        # Rows the block deletes with signals (QuerySet.delete()) were announced by the bindings.
        signalled: set[Any] = set()

        def deleted_with_signals(sender: Any, instance: models.Model, using: str, **kwargs: Any) -> None:
            if using == alias:
                signalled.add(instance.pk)

        if model is not None:
            post_delete.connect(deleted_with_signals, sender=model, weak=False)
        try:
            yield objects
        finally:
            post_delete.disconnect(deleted_with_signals, sender=model)
        after = {instance.pk: instance for instance in _rows(model, pks, alias)}
        events: list[tuple[str, str, object]] = []
        for pk, old in before.items():
            new = after.get(pk)
            for binding in _of(old):
                if new is None:
                    if pk not in signalled:
                        events.extend(binding.deleted_events(old, streams_before[(binding.key, pk)]))
                else:
                    events.extend(binding.saved_events(new, streams_before[(binding.key, pk)]))
        publish_many(events, using=alias)


def _of(instance: models.Model) -> list[ModelBinding[Any]]:
    return _bindings.get(type(instance), [])


def _instances(objects: Iterable[M], using: str | None) -> tuple[list[M], str]:
    if isinstance(objects, models.QuerySet):
        return list(objects), using or objects.db
    instances = list(objects)
    if not instances:
        return [], using or "default"
    return instances, using or router.db_for_write(type(instances[0]), instance=instances[0])


def _primary_keys(objects: Iterable[M], using: str | None) -> tuple[type[M] | None, list[Any], str]:
    if isinstance(objects, models.QuerySet):
        return objects.model, list(objects.values_list("pk", flat=True)), using or objects.db
    instances, alias = _instances(objects, using)
    if not instances:
        return None, [], alias
    missing = [instance for instance in instances if instance.pk is None]
    if missing:
        raise ValueError(
            f"track_changes() needs saved rows: {missing[0]!r} has no primary key (on databases "
            "where bulk_create() does not set them, pass a queryset of the new rows instead)."
        )
    return type(instances[0]), [instance.pk for instance in instances], alias


def _rows(model: type[M] | None, pks: list[Any], alias: str, lock: bool = False) -> list[M]:
    if model is None or not pks:
        return []
    batch = 500  # the database's parameter limit (SQLite's may be 999)
    manager = model._base_manager.using(alias)
    if lock:  # in track_changes' transaction: no concurrent move between the two reads
        manager = manager.select_for_update().order_by("pk")
    return [
        row
        for start in range(0, len(pks), batch)
        for row in manager.filter(pk__in=pks[start : start + batch])
    ]
