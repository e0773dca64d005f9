"""Bindings: "model M feeds stream S", as post_save/post_delete receivers that publish."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.signals import post_delete, post_save

from liveevents.publish import publish
from liveevents.sse import check_field_value
from liveevents.streams import get_stream

M = TypeVar("M", bound=models.Model)

# A model instance to the event's data: a string as it is, anything else as JSON (publish()).
Serializer = Callable[[M], object]


def primary_key_only(instance: models.Model) -> dict[str, Any]:
    return {"pk": instance.pk}


@dataclass(frozen=True)
class ModelBinding(Generic[M]):
    model: type[M]
    stream: str
    saved_event: str
    deleted_event: str | None
    serialize: Serializer[M]
    serialize_deleted: Serializer[M]

    def on_save(self, sender: type[M], instance: M, raw: bool = False, **kwargs: Any) -> None:
        if raw:  # loaddata: fixtures are not news
            return
        publish(self.stream, self.saved_event, self.serialize(instance), using=kwargs.get("using"))

    def on_delete(self, sender: type[M], instance: M, **kwargs: Any) -> None:
        assert self.deleted_event is not None
        publish(self.stream, self.deleted_event, self.serialize_deleted(instance), using=kwargs.get("using"))

    def dispatch_uid(self, signal: str) -> str:
        return f"liveevents:{self.model._meta.label}:{self.stream}:{self.saved_event}:{signal}"


def bind(
    model: type[M],
    *,
    stream: str,
    saved_event: str,
    deleted_event: str | None = None,
    serialize: Serializer[M],
    serialize_deleted: Serializer[M] = primary_key_only,
) -> ModelBinding[M]:
    """Publish `saved_event` on `stream` after each save of `model` and, if given,
    `deleted_event` after each delete. The stream must be declared first (declare_stream)."""
    if get_stream(stream) is None:
        raise ImproperlyConfigured(
            f"Cannot bind {model._meta.label} to stream {stream!r}: declare it first with "
            f"liveevents.streams.declare_stream({stream!r}, readers=...)."
        )
    # `is None`, not falsiness: an empty name must be refused here, not on every save or delete.
    for name in [saved_event] if deleted_event is None else [saved_event, deleted_event]:
        try:
            check_field_value("event name", name)
        except ValueError as error:
            raise ImproperlyConfigured(str(error)) from None
    binding = ModelBinding(model, stream, saved_event, deleted_event, serialize, serialize_deleted)
    post_save.connect(binding.on_save, sender=model, weak=False, dispatch_uid=binding.dispatch_uid("save"))
    if deleted_event is not None:
        post_delete.connect(
            binding.on_delete, sender=model, weak=False, dispatch_uid=binding.dispatch_uid("delete")
        )
    return binding


def unbind(binding: ModelBinding[Any]) -> None:
    """Disconnect a binding's receivers (for tests)."""
    post_save.disconnect(sender=binding.model, dispatch_uid=binding.dispatch_uid("save"))
    post_delete.disconnect(sender=binding.model, dispatch_uid=binding.dispatch_uid("delete"))
