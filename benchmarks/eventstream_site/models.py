"""The same Flight row as flightboard's (no migrations: `migrate --run-syncdb` creates the table)."""

from __future__ import annotations

from typing import Any

from django.db import models

STATE_LABELS = {
    "": "Scheduled",
    "delayed": "Delayed",
    "landing": "Landing",
    "landed": "Landed",
    "cancelled": "Cancelled",
    "diverted": "Diverted",
}


class Flight(models.Model):
    flight = models.CharField(max_length=8, unique=True)
    origin = models.CharField(max_length=64)
    arrival = models.TimeField()
    state = models.CharField(max_length=16, blank=True, default="")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["arrival", "flight"]

    def as_event_data(self) -> dict[str, Any]:
        """The row as the board receives it in flightStateUpdate (flightboard's format)."""
        return {
            "flight": self.flight,
            "origin": self.origin,
            "arrival": self.arrival.strftime("%H:%M"),
            "state": self.state,
            "state_label": STATE_LABELS.get(self.state, self.state),
        }
