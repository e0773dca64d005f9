"""Flights on the arrivals board, the announcements shown beside them, and who follows which flight."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from flightboard.streams import FLIGHTS, flight_stream, has_stream, terminal_stream, user_stream
from liveevents.models import Stream


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
    terminal = models.CharField(
        _("terminal"),
        max_length=4,
        blank=True,
        default="",
        validators=[
            RegexValidator(
                r"\A[A-Z0-9]{1,4}\Z",
                _("A terminal is 1 to 4 capital letters or digits, like 1 or T2B."),
            )
        ],
        help_text=_("Where it arrives, e.g. 2; leave empty for none. It is on that terminal's board."),
    )
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

    def get_absolute_url(self) -> str:
        return reverse("flight", args=[self.flight])

    @property
    def page_url(self) -> str:
        """The flight's page, or "" for a code that cannot have one (it has no stream)."""
        return self.get_absolute_url() if has_stream(self.flight) else ""

    def streams(self) -> list[str]:
        """The streams the flight is on: the whole board, its own, and its terminal's board."""
        names = [FLIGHTS]
        if has_stream(self.flight):
            names.append(flight_stream(self.flight))
        if self.terminal and has_stream(self.terminal):
            names.append(terminal_stream(self.terminal))
        return names

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
            "terminal": self.terminal,
        }

    def as_removal_data(self) -> dict[str, str]:
        return {"flight": self.flight}


class Follow(models.Model):
    """A user follows a flight: it is on their "My flights" page."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows", verbose_name=_("user")
    )
    # A flight removed from the board is no longer followed: its follows go with it, and the
    # followers' pages hear of it (flightUnfollowed).
    flight = models.ForeignKey(
        Flight, on_delete=models.CASCADE, related_name="follows", verbose_name=_("flight")
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("follow")
        verbose_name_plural = _("follows")
        ordering = ["flight__arrival", "flight__flight"]
        constraints = [models.UniqueConstraint(fields=["user", "flight"], name="follow_once")]

    def __str__(self) -> str:
        return f"{self.user} follows {self.flight.flight}"

    def streams(self) -> list[str]:
        """The follower's own stream: their follow list."""
        return [user_stream(self.user_id)]

    def as_event_data(self) -> dict[str, str]:
        """flightFollowed: the flight's row, and the id of its stream that the row is at least as
        new as, so that the page can follow the stream from there without missing a change."""
        code = self.flight.flight  # a code never changes: the stream's name is safe to read first
        last_id = Stream.current_id(flight_stream(code))
        # Read after the id: a change committed in between is replayed, and an upsert twice is harmless.
        flight = Flight.objects.get(pk=self.flight_id)
        return {**flight.as_event_data(), "lastEventId": str(last_id)}

    def as_removal_data(self) -> dict[str, str]:
        return {"flight": self.flight.flight}


# Alerts first: the choices' codes do not sort by severity.
SEVERITY_RANK = models.Case(
    models.When(severity="alert", then=models.Value(0)),
    models.When(severity="warning", then=models.Value(1)),
    default=models.Value(2),
)


class AnnouncementQuerySet(models.QuerySet["Announcement"]):
    def shown_at(self, when: datetime.datetime) -> AnnouncementQuerySet:
        """Announcements on the board at `when`: started, and not ended (no end means for good)."""
        return self.filter(
            models.Q(shown_until__isnull=True) | models.Q(shown_until__gt=when), shown_from__lte=when
        )

    def starting_after(self, when: datetime.datetime) -> AnnouncementQuerySet:
        """Announcements scheduled to appear later than `when`."""
        return self.filter(shown_from__gt=when)

    def ended_by(self, when: datetime.datetime) -> AnnouncementQuerySet:
        """Announcements whose end has passed at `when`."""
        return self.filter(shown_until__lte=when)


class Announcement(models.Model):
    class Severity(models.TextChoices):
        INFO = "info", _("Info")
        WARNING = "warning", _("Warning")
        ALERT = "alert", _("Alert")

    text = models.CharField(_("text"), max_length=280, help_text=_("One line, shown as typed."))
    severity = models.CharField(_("severity"), max_length=16, choices=Severity, default=Severity.INFO)
    shown_from = models.DateTimeField(_("shown from"), default=timezone.now)
    shown_until = models.DateTimeField(
        _("shown until"), null=True, blank=True, help_text=_("Leave empty to show it until it is ended.")
    )
    updated = models.DateTimeField(_("updated"), auto_now=True)

    objects = AnnouncementQuerySet.as_manager()

    class Meta:
        verbose_name = _("announcement")
        verbose_name_plural = _("announcements")
        # The most severe first, then the oldest; board.js sorts the same way (announcementOrder).
        ordering = [SEVERITY_RANK.asc(), "shown_from", "id"]

    def __str__(self) -> str:
        return self.text

    def clean(self) -> None:
        if (
            self.shown_from is not None
            and self.shown_until is not None
            and self.shown_until <= self.shown_from
        ):
            raise ValidationError(
                {"shown_until": _("An announcement must end after it starts: set a later time, or none.")},
                code="ends_before_start",
            )

    def is_shown_at(self, when: datetime.datetime) -> bool:
        return self.shown_from <= when and (self.shown_until is None or self.shown_until > when)

    @property
    def shown_from_iso(self) -> str:
        return _iso(self.shown_from) or ""

    @property
    def shown_until_iso(self) -> str:
        """The end as ISO 8601, or "" for none (the board page's data-until)."""
        return _iso(self.shown_until) or ""

    def as_event_data(self) -> dict[str, object]:
        """The announcement as the board receives it in announcementUpdate."""
        return {
            "id": self.pk,
            "text": self.text,
            "severity": self.severity,
            "severity_label": str(self.Severity(self.severity).label),
            "shown_from": _iso(self.shown_from),
            "shown_until": _iso(self.shown_until),
        }

    def as_removal_data(self) -> dict[str, object]:
        return {"id": self.pk}


def _iso(when: datetime.datetime | None) -> str | None:
    # UTC with milliseconds: the exact form of JavaScript's Date.parse (ECMAScript's date-time
    # string format), so the board reads it the same in every browser.
    if when is None:
        return None
    return when.astimezone(datetime.UTC).isoformat(timespec="milliseconds")
