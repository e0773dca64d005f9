from __future__ import annotations

from django.apps import AppConfig


class FlightboardConfig(AppConfig):
    name = "flightboard"
    verbose_name = "Flight board"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from flightboard.models import Announcement, Flight
        from liveevents.bindings import bind
        from liveevents.streams import PUBLIC, declare_stream

        declare_stream("flights", readers=PUBLIC)
        bind(
            Flight,
            stream="flights",
            saved_event="flightStateUpdate",
            deleted_event="flightRemoval",
            serialize=Flight.as_event_data,
            serialize_deleted=Flight.as_removal_data,
        )
        declare_stream("announcements", readers=PUBLIC)
        bind(
            Announcement,
            stream="announcements",
            saved_event="announcementUpdate",
            deleted_event="announcementRemoval",
            serialize=Announcement.as_event_data,
            serialize_deleted=Announcement.as_removal_data,
        )
