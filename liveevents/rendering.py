"""Rendered bindings: a Django template per change, whose HTML fragment is the event's data.

    bind(Order, stream="order-rows", saved_event="orderRow", deleted_event="orderGone",
         serialize=rendered("orders/row.html"))

A deleted event renders the same template with `action` "deleted", unless the binding is given a
serialize_deleted of its own.

A fragment is a string, which publish() logs as it is: replay, gap repair and streamReset treat it
as any other event. htmx's SSE extension swaps it into pages (sse-swap, hx-swap-oob).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.template.loader import render_to_string

M = TypeVar("M", bound=models.Model)

Action = Literal["saved", "deleted"]
ACTIONS: tuple[Action, ...] = ("saved", "deleted")
# An instance to more context for its template (what the template shows besides the instance).
ExtraContext = Callable[[M], Mapping[str, Any]]


@dataclass(frozen=True)
class TemplateFragment(Generic[M]):
    """A serializer for bind(): the instance to its template rendered as HTML. Made by rendered()."""

    template_name: str | Sequence[str]
    action: Action
    context: ExtraContext[M] | None = None

    def __call__(self, instance: M) -> str:
        context: dict[str, Any] = {}
        if self.context is not None:
            context.update(self.context(instance))
        context[instance._meta.model_name or "object"] = instance
        context.update(instance=instance, action=self.action)
        return render_to_string(self.template_name, context).strip()


def rendered(
    template_name: str | Sequence[str],
    *,
    action: Action = "saved",
    context: ExtraContext[M] | None = None,
) -> TemplateFragment[M]:
    """A serializer that renders `template_name` (a name, or names to try in order) for each
    change: the event's data is the HTML, autoescaped as any Django template.

    The template gets the instance as `instance` and under its model's name (`order`), `action`
    ("saved", or "deleted" for a deleted event: bind() renders `serialize` with "deleted" when
    it is given no serialize_deleted), and what `context(instance)` returns. It is
    rendered once per change for every reader, without a request: no `request`, `user`,
    `csrf_token` or context processors. It runs in the transaction that publishes the event, so
    it may read the database; one that shows more than the instance (a whole table) calls
    liveevents.publish.lock_streams() on its streams first, so that it reads the rows after every
    earlier event of those streams committed.
    """
    if action not in ACTIONS:
        raise ImproperlyConfigured(f"rendered(action=...) is 'saved' or 'deleted', not {action!r}.")
    if context is not None and not callable(context):
        raise ImproperlyConfigured(
            f"rendered(context=...) takes a callable that returns more context for an instance, "
            f"not {context!r}."
        )
    return TemplateFragment(template_name, action, context)
