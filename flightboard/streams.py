"""The names of flightboard's streams: the whole board, one per terminal, flight and user, and the
htmx board's two streams of HTML fragments."""

from __future__ import annotations

from liveevents.streams import PARAMETER

FLIGHTS = "flights"
ANNOUNCEMENTS = "announcements"
TERMINAL = "terminal.{code}"
FLIGHT = "flight.{code}"
USER = "user.{id}"
# The htmx board's: its rows and its ticker, rendered as HTML after each change.
FLIGHTS_HTML = "flights-html"
ANNOUNCEMENTS_HTML = "announcements-html"


def has_stream(value: object) -> bool:
    """Whether `value` can be the parameter of a family member: a flight code or terminal written
    by code that skipped the model's validation may not, and then has no stream of its own."""
    return isinstance(value, str) and PARAMETER.fullmatch(value) is not None


def terminal_stream(code: str) -> str:
    return TERMINAL.format(code=code)


def flight_stream(code: str) -> str:
    return FLIGHT.format(code=code)


def user_stream(user_id: object) -> str:
    return USER.format(id=user_id)
