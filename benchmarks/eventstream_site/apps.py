"""Connects the model's post_save signal to django-eventstream's send_event."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_save


def send_flight_update(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    from django_eventstream import send_event

    if raw:
        return
    data = instance.as_event_data()
    # On commit, as a careful user would: a rolled-back save must not reach browsers.
    transaction.on_commit(lambda: send_event("flights", "flightStateUpdate", data))


class EventstreamSiteConfig(AppConfig):
    name = "benchmarks.eventstream_site"
    label = "eventstream_site"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from benchmarks.eventstream_site.models import Flight

        post_save.connect(send_flight_update, sender=Flight, dispatch_uid="eventstream-site-flight")
