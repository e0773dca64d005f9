from __future__ import annotations

from django.apps import AppConfig


class FlightboardConfig(AppConfig):
    name = "flightboard"
    verbose_name = "Flight board"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from flightboard import fragments, streams
        from flightboard.models import Announcement, Flight, Follow
        from liveevents.bindings import bind
        from liveevents.rendering import rendered
        from liveevents.streams import PUBLIC, declare_stream, owner

        declare_stream(streams.FLIGHTS, readers=PUBLIC)
        declare_stream(streams.TERMINAL, readers=PUBLIC)
        declare_stream(streams.FLIGHT, readers=PUBLIC)
        # A follow list is its owner's business alone.
        declare_stream(streams.USER, readers=owner("id"))
        bind(
            Flight,
            # The whole board, the flight's page, and its terminal's board: a flight moved to
            # another terminal leaves one board (flightRemoval) and arrives on the other.
            streams=Flight.streams,
            saved_event="flightStateUpdate",
            deleted_event="flightRemoval",
            serialize=Flight.as_event_data,
            serialize_deleted=Flight.as_removal_data,
        )
        bind(
            Follow,
            streams=Follow.streams,
            saved_event="flightFollowed",
            deleted_event="flightUnfollowed",
            serialize=Follow.as_event_data,
            serialize_deleted=Follow.as_removal_data,
        )
        declare_stream(streams.ANNOUNCEMENTS, readers=PUBLIC)
        bind(
            Announcement,
            stream=streams.ANNOUNCEMENTS,
            saved_event="announcementUpdate",
            deleted_event="announcementRemoval",
            serialize=Announcement.as_event_data,
            serialize_deleted=Announcement.as_removal_data,
        )
        # The htmx board: the same changes, as the HTML of its rows and of its ticker.
        declare_stream(streams.FLIGHTS_HTML, readers=PUBLIC)
        declare_stream(streams.ANNOUNCEMENTS_HTML, readers=PUBLIC)
        bind(
            Flight,
            stream=streams.FLIGHTS_HTML,
            saved_event=fragments.FLIGHT_ROWS,
            deleted_event=fragments.FLIGHT_ROWS,
            serialize=rendered(fragments.FLIGHT_ROWS_TEMPLATE, context=fragments.rows_context),
            serialize_deleted=rendered(
                fragments.FLIGHT_ROWS_TEMPLATE, action="deleted", context=fragments.rows_context
            ),
        )
        bind(
            Announcement,
            stream=streams.ANNOUNCEMENTS_HTML,
            saved_event=fragments.TICKER_ITEMS,
            deleted_event=fragments.TICKER_ITEMS,
            serialize=rendered(fragments.TICKER_ITEMS_TEMPLATE, context=fragments.ticker_context),
            serialize_deleted=rendered(
                fragments.TICKER_ITEMS_TEMPLATE, action="deleted", context=fragments.ticker_context
            ),
        )
