"""The htmx board's live HTML: its rows and its ticker as they are after each change, rendered for
the events of its streams, and what its page renders first.

Each event carries the whole <tbody> (or the whole ticker), not one row. htmx can replace a row by
its id (hx-swap-oob), but not insert one in arrival order, nor move one whose arrival changed,
without knowing where the page's other rows are; a row placed after its neighbour at the server
goes wrong as soon as the page and the server disagree on that neighbour (a page rendered a
change ahead of its position, a neighbour removed meanwhile). The whole list is right whatever
the page held before: every event brings the board as it is, so replaying one twice, or one the
page already shows, changes nothing. It costs a few hundred bytes per row and event.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from flightboard.models import Announcement, Flight
from flightboard.streams import ANNOUNCEMENTS_HTML, FLIGHTS_HTML
from liveevents.publish import lock_streams

# The events of the two streams, and the templates that render them (the page's sse-swap names).
FLIGHT_ROWS = "flightRows"
FLIGHT_ROWS_TEMPLATE = "flightboard/htmx/flight_rows_event.html"
TICKER_ITEMS = "tickerItems"
TICKER_ITEMS_TEMPLATE = "flightboard/htmx/ticker_event.html"


def board_flights() -> QuerySet[Flight]:
    """The board's flights in arrival order."""
    return Flight.objects.order_by("arrival", "flight")


def shown_announcements() -> QuerySet[Announcement]:
    """The announcements on the board now, the most severe first."""
    return Announcement.objects.shown_at(timezone.now())


def rows_context(flight: Flight) -> dict[str, Any]:
    """The rows after a change of `flight`. Read once every earlier event of the stream has
    committed (lock_streams): the last event a page swaps in never misses a change made before it
    in another transaction."""
    lock_streams([FLIGHTS_HTML])
    return {"flights": list(board_flights())}


def ticker_context(announcement: Announcement) -> dict[str, Any]:
    """The announcements shown after a change of `announcement`, read as the rows are."""
    lock_streams([ANNOUNCEMENTS_HTML])
    return {"announcements": list(shown_announcements())}
