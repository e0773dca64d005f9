"""The event log: one row per published event, and one counter row per stream."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Stream(models.Model):
    """A stream's sequence counter and open/closed state.

    Publishing locks this row for the rest of the transaction, which keeps event ids
    contiguous and in commit order even with concurrent writers.
    """

    name = models.CharField(_("name"), max_length=80, primary_key=True)
    last_id = models.PositiveBigIntegerField(_("last event id"), default=0)
    closed = models.BooleanField(
        _("closed"),
        default=False,
        help_text=_("Closed streams end every open connection and answer new ones with 204."),
    )

    class Meta:
        verbose_name = _("stream")
        verbose_name_plural = _("streams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def current_id(cls, name: str) -> int:
        """The id of the stream's latest event, 0 before the first one."""
        return cls.objects.filter(name=name).values_list("last_id", flat=True).first() or 0


class Event(models.Model):
    """One published event. `sequence` is the SSE id: contiguous and increasing per stream."""

    stream = models.ForeignKey(
        Stream, on_delete=models.CASCADE, related_name="events", verbose_name=_("stream")
    )
    sequence = models.PositiveBigIntegerField(_("id in stream"))
    event = models.CharField(_("event name"), max_length=200)
    data = models.TextField(_("data"), blank=True)
    created = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["stream", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "sequence"], name="liveevents_event_unique_sequence"),
        ]

    def __str__(self) -> str:
        return f"{self.stream_id}#{self.sequence} {self.event}"
