"""URLs: include("liveevents.urls") under the prefix of your choice (flightboard uses events/):
<prefix><stream>/ for one stream, <prefix>?stream=A&stream=B for several over one connection."""

from __future__ import annotations

from django.urls import path

from liveevents.views import stream_view, streams_view

app_name = "liveevents"

urlpatterns = [
    path("", streams_view, name="streams"),
    path("<str:stream>/", stream_view, name="stream"),
]
