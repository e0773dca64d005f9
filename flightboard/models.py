"""Flights on the arrivals board."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Flight(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "", _("Scheduled")
        DELAYED = "delayed", _("Delayed")
        LANDING = "landing", _("Landing")
        LANDED = "landed", _("Landed")
        CANCELLED = "cancelled", _("Cancelled")
        DIVERTED = "diverted", _("Diverted")

    flight = models.CharField(
        _("flight"),
        max_length=8,
        unique=True,
        validators=[
            RegexValidator(
                r"\A[A-Z0-9]{2,8}\Z",
                _("A flight code is 2 to 8 capital letters or digits, like I768 or BA2490."),
            )
        ],
        help_text=_("The code shown on the board, e.g. I768. It cannot change once created."),
        error_messages={"unique": _("Flight %(value)s is already on the board.")},
    )
    origin = models.CharField(_("origin"), max_length=64)
    arrival = models.TimeField(_("arrival"), help_text=_("Scheduled time of day, HH:MM."))
    state = models.CharField(_("state"), max_length=16, choices=State, blank=True, default=State.SCHEDULED)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("flight")
        verbose_name_plural = _("flights")
        ordering = ["arrival", "flight"]

    def __str__(self) -> str:
        return f"{self.flight} from {self.origin}"

    def unique_error_message(
        self, model_class: type[models.Model], unique_check: Sequence[str]
    ) -> ValidationError:
        # Django passes no %(value)s to a field's "unique" message; without it, rendering the
        # message above raised KeyError (a 500 when adding a duplicate flight in the admin).
        error = super().unique_error_message(model_class, unique_check)
        if len(unique_check) == 1:
            error.params = {**(error.params or {}), "value": getattr(self, unique_check[0])}
        return error

    def as_event_data(self) -> dict[str, str]:
        """The row as the board receives it in flightStateUpdate."""
        arrival = self.arrival
        if isinstance(arrival, str):
            arrival = datetime.time.fromisoformat(arrival)
        return {
            "flight": self.flight,
            "origin": self.origin,
            "arrival": arrival.strftime("%H:%M"),
            "state": self.state,
            "state_label": str(self.State(self.state).label),
        }

    def as_removal_data(self) -> dict[str, str]:
        return {"flight": self.flight}
