from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from flightboard.models import Announcement, Flight

STREAM = "flights"


def board(request: HttpRequest) -> HttpResponse:
    """The arrivals board: rendered rows and announcements, then live updates of both from the
    cursor current at render, over one connection."""
    # The querysets stay lazy, read as the template reaches them: the cursor, rendered by a tag on
    # <main> above them, is read first. Whatever happens in between is replayed (and upserts are
    # idempotent), so the page never misses an update.
    now = timezone.now()
    return render(
        request,
        "flightboard/board.html",
        {
            "flights": Flight.objects.order_by("arrival", "flight"),
            "states": Flight.State.choices,
            "announcements": Announcement.objects.shown_at(now),
            # Scheduled ones too, out of sight in a <template>: board.js shows each at its time.
            "upcoming_announcements": Announcement.objects.starting_after(now),
        },
    )
