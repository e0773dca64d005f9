"""The admin: flights, announcements and follows, changed through save() and delete(): pages hear of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from flightboard.models import SEVERITY_RANK, Announcement, Flight, Follow

if TYPE_CHECKING:
    # Generic in django-stubs only: Django's classes cannot be subscripted.
    _FlightModelForm = forms.ModelForm[Flight]
    _FlightModelAdmin = admin.ModelAdmin[Flight]
    _AnnouncementModelAdmin = admin.ModelAdmin[Announcement]
    _FollowModelAdmin = admin.ModelAdmin[Follow]
else:
    _FlightModelForm = forms.ModelForm
    _FlightModelAdmin = _AnnouncementModelAdmin = _FollowModelAdmin = admin.ModelAdmin


class FlightForm(_FlightModelForm):
    class Meta:
        model = Flight
        fields = ["flight", "origin", "arrival", "terminal", "state"]

    def clean_flight(self) -> str:
        flight: str = self.cleaned_data["flight"]
        return flight.strip().upper()

    def clean_terminal(self) -> str:
        terminal: str = self.cleaned_data["terminal"]
        return terminal.strip().upper()


@admin.register(Flight)
class FlightAdmin(_FlightModelAdmin):
    form = FlightForm
    list_display = ["flight", "origin", "arrival", "terminal", "state", "updated"]
    list_display_links = ["flight"]
    list_editable = ["state"]
    list_filter = ["state", "terminal"]
    search_fields = ["flight", "origin"]
    ordering = ["arrival", "flight"]
    actions = ["mark_landing", "mark_landed", "remove_from_board"]

    def get_readonly_fields(self, request: HttpRequest, obj: Flight | None = None) -> list[str]:
        # The code identifies the row on every open board; renaming would leave a ghost row.
        return ["flight"] if obj is not None else []

    def _set_state(self, request: HttpRequest, queryset: QuerySet[Flight], state: str) -> None:
        changed = 0
        with transaction.atomic():
            for flight in queryset.select_for_update():
                if flight.state != state:
                    flight.state = state
                    flight.save(update_fields=["state", "updated"])  # save(), not update(): publishes
                    changed += 1
        label = Flight.State(state).label
        self.message_user(request, f"{changed} flight(s) marked {label}.", messages.SUCCESS)

    @admin.action(description="Mark selected flights as landing", permissions=["change"])
    def mark_landing(self, request: HttpRequest, queryset: QuerySet[Flight]) -> None:
        self._set_state(request, queryset, Flight.State.LANDING)

    @admin.action(description="Mark selected flights as landed", permissions=["change"])
    def mark_landed(self, request: HttpRequest, queryset: QuerySet[Flight]) -> None:
        self._set_state(request, queryset, Flight.State.LANDED)

    @admin.action(description="Remove selected flights from the board", permissions=["delete"])
    def remove_from_board(self, request: HttpRequest, queryset: QuerySet[Flight]) -> None:
        with transaction.atomic():
            codes = [flight.flight for flight in queryset]
            for flight in queryset:
                flight.delete()
        self.message_user(request, f"Removed {len(codes)} flight(s): {', '.join(codes)}.", messages.SUCCESS)


class ShownFilter(admin.SimpleListFilter):
    title = "shown"
    parameter_name = "shown"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Announcement]
    ) -> list[tuple[str, str]]:
        return [("now", "Shown now"), ("upcoming", "Upcoming"), ("ended", "Ended")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Announcement]) -> QuerySet[Announcement]:
        now = timezone.now()
        if self.value() == "now":
            return queryset.filter(pk__in=Announcement.objects.shown_at(now))
        if self.value() == "upcoming":
            return queryset.filter(pk__in=Announcement.objects.starting_after(now))
        if self.value() == "ended":
            return queryset.filter(pk__in=Announcement.objects.ended_by(now))
        return queryset


@admin.register(Announcement)
class AnnouncementAdmin(_AnnouncementModelAdmin):
    list_display = ["text", "severity_display", "shown_from", "shown_until", "shown_now", "updated"]
    list_filter = [ShownFilter, "severity", "shown_from"]
    search_fields = ["text"]
    actions = ["show_now", "end_now"]

    @admin.display(description="severity", ordering=SEVERITY_RANK)
    def severity_display(self, announcement: Announcement) -> str:
        return announcement.get_severity_display()

    @admin.display(description="shown now", boolean=True)
    def shown_now(self, announcement: Announcement) -> bool:
        return announcement.is_shown_at(timezone.now())

    @admin.action(description="Show selected announcements now", permissions=["change"])
    def show_now(self, request: HttpRequest, queryset: QuerySet[Announcement]) -> None:
        now = timezone.now()
        shown = 0
        with transaction.atomic():
            for announcement in queryset.select_for_update():
                if announcement.is_shown_at(now):
                    continue  # already on the board: moving its start would only reorder it
                announcement.shown_from = now
                if announcement.shown_until is not None and announcement.shown_until <= now:
                    announcement.shown_until = None
                announcement.save()  # save(), not update(): publishes
                shown += 1
        self.message_user(request, f"{shown} announcement(s) shown now.", messages.SUCCESS)

    @admin.action(description="End selected announcements now", permissions=["change"])
    def end_now(self, request: HttpRequest, queryset: QuerySet[Announcement]) -> None:
        now = timezone.now()
        ended = not_started = 0
        with transaction.atomic():
            for announcement in queryset.select_for_update():
                if announcement.shown_from >= now:
                    # Its end would come before its start; deleting it is how to cancel it.
                    not_started += 1
                elif announcement.shown_until is None or announcement.shown_until > now:
                    announcement.shown_until = now
                    announcement.save()  # save(), not update(): publishes
                    ended += 1
        self.message_user(request, f"{ended} announcement(s) ended.", messages.SUCCESS)
        if not_started:
            self.message_user(
                request,
                f"{not_started} announcement(s) not shown yet, left as scheduled (delete one to cancel it).",
                messages.WARNING,
            )


@admin.register(Follow)
class FollowAdmin(_FollowModelAdmin):
    list_display = ["user", "flight", "created"]
    list_filter = ["created"]
    list_select_related = ["user", "flight"]
    search_fields = ["user__username", "flight__flight"]
    raw_id_fields = ["user", "flight"]
    ordering = ["-created"]

    def get_readonly_fields(self, request: HttpRequest, obj: Follow | None = None) -> list[str]:
        # Another user or flight would be another follow: add that one and delete this one.
        return ["user", "flight", "created"] if obj is not None else []
