"""The site's pages: the boards (all arrivals, one terminal's, all arrivals in htmx), a flight's
page, "My flights", and following or unfollowing a flight.

A page reads its state with liveevents' snapshot(): the position of its streams first, then the
state, so a change committed in between is replayed and nothing is missed between render and
connect. The templates render the snapshot (`live`): its streams, URL and position, and its state.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from flightboard import fragments
from flightboard.models import Announcement, Flight, Follow
from flightboard.streams import (
    ANNOUNCEMENTS,
    ANNOUNCEMENTS_HTML,
    FLIGHTS,
    FLIGHTS_HTML,
    flight_stream,
    terminal_stream,
    user_stream,
)
from liveevents.conf import get_config
from liveevents.snapshot import Snapshot, snapshot

# The columns of a board (as the design has it), and of pages where flights of several terminals
# meet: (data-field, heading). board.js reads them from the table's head.
BOARD_COLUMNS = [("origin", "Origin"), ("flight", "Flight"), ("arrival", "Arrival"), ("state", "State")]
FLIGHT_COLUMNS = [*BOARD_COLUMNS[:3], ("terminal", "Terminal"), BOARD_COLUMNS[3]]
# Stands for a flight's code in the URLs board.js completes for the rows it adds.
CODE_PLACEHOLDER = "__flight__"


def board(request: HttpRequest) -> HttpResponse:
    """The arrivals board: rendered rows and announcements, then live updates of both from the
    cursor current at render, over one connection."""
    return _board(request, FLIGHTS, Flight.objects.all(), title="Arrivals")


def htmx_board(request: HttpRequest) -> HttpResponse:
    """The arrivals board in htmx: rows and announcements rendered here, then swapped in as the
    HTML its streams carry (flightboard.fragments), from the position read before them."""
    live = snapshot(
        [FLIGHTS_HTML, ANNOUNCEMENTS_HTML],
        lambda: {"flights": fragments.board_flights(), "announcements": fragments.shown_announcements()},
    )
    return render(
        request,
        "flightboard/htmx/board.html",
        {
            **_site_context(request, current=""),
            "title": "Arrivals (htmx)",
            "columns": BOARD_COLUMNS,
            "rows_event": fragments.FLIGHT_ROWS,
            "ticker_event": fragments.TICKER_ITEMS,
            "live": live,
            **live.state,
        },
    )


def terminal_board(request: HttpRequest, code: str) -> HttpResponse:
    """One terminal's arrivals: the flights whose terminal is `code`, live through its own stream.
    Any code of the terminal grammar has a board, empty until a flight arrives there."""
    flights = Flight.objects.filter(terminal=code)
    return _board(request, terminal_stream(code), flights, title=f"Terminal {code} arrivals", terminal=code)


def _board(
    request: HttpRequest, stream: str, flights: QuerySet[Flight], *, title: str, terminal: str = ""
) -> HttpResponse:
    # `flights` is not read yet (a QuerySet is lazy): snapshot() reads it after the position.
    def read() -> dict[str, Any]:
        now = timezone.now()
        return {
            "flights": flights.order_by("arrival", "flight"),
            "announcements": Announcement.objects.shown_at(now),
            # Scheduled ones too, out of sight in a <template>: board.js shows each at its time.
            "upcoming_announcements": Announcement.objects.starting_after(now),
        }

    live = snapshot([stream, ANNOUNCEMENTS], read)
    return render(
        request,
        "flightboard/board.html",
        {
            **_site_context(request, current=terminal or "all"),
            **_table_context(request, BOARD_COLUMNS, "No flights on the board."),
            "title": title,
            "live": live,
            **live.state,
        },
    )


def flight_page(request: HttpRequest, code: str) -> HttpResponse:
    """One flight, live through its own stream; it says so when the flight leaves the board."""
    live = snapshot([flight_stream(code)], lambda: get_object_or_404(Flight, flight=code))
    return render(
        request,
        "flightboard/flight.html",
        {
            **_site_context(request, current=""),
            **_table_context(request, FLIGHT_COLUMNS, f"Flight {code} has left the board."),
            "title": f"Flight {code}",
            "code": code,
            "live": live,
            "flights": [live.state],
        },
    )


@login_required
def my_flights(request: HttpRequest) -> HttpResponse:
    """The flights the signed-in user follows, live over one connection: their own stream (the
    follow list) and each followed flight's."""
    user = request.user
    assert user.is_authenticated  # login_required let it in
    own = user_stream(user.pk)
    # Two snapshots, in this order: a follow made after the follow list's position is replayed
    # (flightFollowed adds it, once), and each flight's row is read after its stream's position.
    follows = snapshot(
        [own],
        lambda: list(
            Follow.objects.filter(user=user)
            .order_by("flight__arrival", "flight__flight")
            .values_list("flight__flight", flat=True)
        ),
    )
    # Follows added past the limit by other means (the admin) stay off this page.
    shown = followed_limit()
    codes, hidden = follows.state[:shown], len(follows.state[shown:])
    positions = dict(follows.positions)
    flights: list[Flight] = []
    if codes:
        rows = snapshot(
            [flight_stream(code) for code in codes],
            lambda: list(Flight.objects.filter(flight__in=codes).order_by("arrival", "flight")),
        )
        positions.update(rows.positions)
        flights = rows.state
    # One connection for both: each stream's position was read before the state that matches it.
    live = Snapshot(flights, positions, multiplexed=True)
    return render(
        request,
        "flightboard/my_flights.html",
        {
            **_site_context(request, current="my"),
            **_table_context(request, FLIGHT_COLUMNS, "You follow no flights yet: follow one from a board."),
            "title": "My flights",
            "user_stream": own,
            "flight_stream_pattern": flight_stream(CODE_PLACEHOLDER),
            "live": live,
            "flights": live.state,
            "hidden": hidden,
            "flights_limit": shown,
        },
    )


def followed_limit() -> int:
    """How many flights a user may follow: My flights follows them all over one connection,
    with the user's own stream."""
    return get_config()["MAX_STREAMS_PER_CONNECTION"] - 1


@require_POST
def follow(request: HttpRequest, code: str) -> HttpResponse:
    """Add the flight to the user's flights (once, however often asked), then go back."""
    flight = get_object_or_404(Flight, flight=code)
    if not request.user.is_authenticated:
        return redirect_to_login(flight.get_absolute_url())
    with transaction.atomic():
        # One follow at a time per user, so that two tabs cannot both pass the limit.
        get_user_model().objects.select_for_update().filter(pk=request.user.pk).first()
        follows = Follow.objects.filter(user=request.user)
        if not follows.filter(flight=flight).exists():
            limit = followed_limit()
            if follows.count() >= limit:
                messages.error(request, f"You can follow up to {limit} flights: unfollow one first.")
            else:
                Follow.objects.create(user=request.user, flight=flight)
                messages.success(request, f"You follow {code}.")
    return _back(request, flight)


@require_POST
def unfollow(request: HttpRequest, code: str) -> HttpResponse:
    """Remove the flight from the user's flights, then go back."""
    flight = get_object_or_404(Flight, flight=code)
    if not request.user.is_authenticated:
        return redirect_to_login(flight.get_absolute_url())
    with transaction.atomic():
        for followed in Follow.objects.filter(user=request.user, flight=flight):
            followed.delete()  # one by one: each tells the user's pages (flightUnfollowed)
    messages.success(request, f"You no longer follow {code}.")
    return _back(request, flight)


def _back(request: HttpRequest, flight: Flight) -> HttpResponseRedirect:
    """To the page the form was on (`next`, if it is on this site), else the flight's page."""
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return HttpResponseRedirect(target if safe else flight.get_absolute_url())


def _site_context(request: HttpRequest, *, current: str) -> dict[str, Any]:
    """What every page's header needs: the boards to link to, and what the user follows."""
    terminals = set(Flight.objects.exclude(terminal="").values_list("terminal", flat=True).distinct())
    if current not in ("", "all", "my"):
        terminals.add(current)  # an empty terminal's board still links to itself
    following: list[str] = []
    if request.user.is_authenticated:
        following = list(Follow.objects.filter(user=request.user).values_list("flight__flight", flat=True))
    return {
        "current": current,
        "terminals": sorted(terminals, key=lambda code: (len(code), code)),
        "following": following,
    }


def _table_context(request: HttpRequest, columns: list[tuple[str, str]], empty_text: str) -> dict[str, Any]:
    return {
        "columns": columns,
        "colspan": len(columns) + request.user.is_authenticated,  # the follow buttons' column
        "empty_text": empty_text,
        "code_placeholder": CODE_PLACEHOLDER,
    }
