"""The stream at the same URL as flightboard's: /events/flights/."""

import django_eventstream
from django.urls import include, path

urlpatterns = [
    path("events/flights/", include(django_eventstream.urls), {"channels": ["flights"]}),
]
