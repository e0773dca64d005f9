"""The event log in the admin: readable by staff, never editable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

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


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "stream", "event", "created", "data"]
    list_filter = ["stream", "event"]
    search_fields = ["data"]
    date_hierarchy = "created"
    ordering = ["-created", "-sequence"]


@admin.register(Stream)
class StreamAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_id", "closed"]
