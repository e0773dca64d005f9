"""The event log in the admin: readable by staff, never editable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.db import models
from django.db.models.functions import Length, Substr
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from liveevents.models import Event, Stream

if TYPE_CHECKING:
    # ModelAdmin is generic in django-stubs only: Django's class cannot be subscripted.
    _ModelAdmin = admin.ModelAdmin[models.Model]
else:
    _ModelAdmin = admin.ModelAdmin


class ReadOnlyAdmin(_ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


# Characters of an event's data the list shows: a page of large events stays small.
EXCERPT_LENGTH = 200


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "stream", "event", "created", "data_excerpt"]
    list_filter = ["stream", "event"]
    search_fields = ["data"]
    date_hierarchy = "created"
    ordering = ["-created", "-sequence"]

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[models.Model]:
        # The list reads only the start of each event's data, never the whole of it.
        excerpts: models.QuerySet[models.Model] = super().get_queryset(request).defer("data")
        excerpts = excerpts.annotate(
            data_start=Substr("data", 1, EXCERPT_LENGTH + 1), data_length=Length("data")
        )
        return excerpts

    @admin.display(description=_("data"))
    def data_excerpt(self, event: Event) -> str:
        start: str | None = getattr(event, "data_start", None)
        if start is None:  # not from the list's queryset
            start = event.data[: EXCERPT_LENGTH + 1]
        if len(start) <= EXCERPT_LENGTH:
            return start
        length = getattr(event, "data_length", None)
        more = f" ({length:,} characters)" if length is not None else ""
        return f"{start[:EXCERPT_LENGTH]}…{more}"


@admin.register(Stream)
class StreamAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_id", "closed"]
