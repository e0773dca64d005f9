from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from flightboard.models import Announcement, Flight
from liveevents.models import Stream

STREAM = "flights"


def board(request: HttpRequest) -> HttpResponse:
    """The arrivals board: rendered rows and announcements, then live updates from the id current
    at render."""
    # The id is read before the rows: whatever happens in between is replayed (and upserts
    # are idempotent), so the page never misses an update. The querysets stay lazy, read as the
    # template reaches them: a cursor rendered by a tag on <main>, above them, is read first too.
    last_event_id = Stream.current_id(STREAM)
    now = timezone.now()
    return render(
        request,
        "flightboard/board.html",
        {
            "flights": Flight.objects.order_by("arrival", "flight"),
            "stream_url": reverse("liveevents:stream", args=[STREAM]),
            "last_event_id": last_event_id,
            # The flights and announcements streams over one connection (design.md section 8):
            # empty until that endpoint exists; the template will then use its tags instead.
            "streams_url": "",
            "stream_cursor": "",
            "states": Flight.State.choices,
            "announcements": Announcement.objects.shown_at(now),
            # Scheduled ones too, out of sight in a <template>: board.js shows each at its time.
            "upcoming_announcements": Announcement.objects.starting_after(now),
        },
    )
