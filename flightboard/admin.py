from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from flightboard.models import Flight

if TYPE_CHECKING:
    # Generic in django-stubs only: Django's classes cannot be subscripted.
    _FlightModelForm = forms.ModelForm[Flight]
    _FlightModelAdmin = admin.ModelAdmin[Flight]
else:
    _FlightModelForm = forms.ModelForm
    _FlightModelAdmin = admin.ModelAdmin


class FlightForm(_FlightModelForm):
    class Meta:
        model = Flight
        fields = ["flight", "origin", "arrival", "state"]

    def clean_flight(self) -> str:
        flight: str = self.cleaned_data["flight"]
        return flight.strip().upper()


@admin.register(Flight)
class FlightAdmin(_FlightModelAdmin):
    form = FlightForm
    list_display = ["flight", "origin", "arrival", "state", "updated"]
    list_display_links = ["flight"]
    list_editable = ["state"]
    list_filter = ["state"]
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

    @admin.action(description="Mark selected flights as landing")
    def mark_landing(self, request: HttpRequest, queryset: QuerySet[Flight]) -> None:
        self._set_state(request, queryset, Flight.State.LANDING)

    @admin.action(description="Mark selected flights as landed")
    def mark_landed(self, request: HttpRequest, queryset: QuerySet[Flight]) -> None:
        self._set_state(request, queryset, Flight.State.LANDED)

    @admin.action(description="Remove selected flights from the board", permissions=["delete"])
    def remove_from_board(self, request: HttpRequest, queryset: QuerySet[Flight]) -> None:
        with transaction.atomic():
            codes = [flight.flight for flight in queryset]
            for flight in queryset:
                flight.delete()
        self.message_user(request, f"Removed {len(codes)} flight(s): {', '.join(codes)}.", messages.SUCCESS)
