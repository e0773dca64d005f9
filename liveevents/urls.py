"""URLs: include("liveevents.urls") under the prefix of your choice (flightboard uses events/)."""

from __future__ import annotations

from django.urls import path

from liveevents.views import stream_view

app_name = "liveevents"

urlpatterns = [
    path("<str:stream>/", stream_view, name="stream"),
]
