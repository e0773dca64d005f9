from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from flightboard.models import Flight
from liveevents.models import Stream

STREAM = "flights"


def board(request: HttpRequest) -> HttpResponse:
    """The arrivals board: rendered rows, then live updates from the id current at render."""
    # The id is read before the rows: whatever happens in between is replayed (and upserts
    # are idempotent), so the page never misses an update.
    last_event_id = Stream.current_id(STREAM)
    flights = list(Flight.objects.order_by("arrival", "flight"))
    return render(
        request,
        "flightboard/board.html",
        {
            "flights": flights,
            "stream_url": reverse("liveevents:stream", args=[STREAM]),
            "last_event_id": last_event_id,
            "states": Flight.State.choices,
        },
    )
