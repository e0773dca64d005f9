"""ASGI entry point: `daphne flightboard.asgi:application` serves pages, static files and streams."""

import os

from django.core.asgi import get_asgi_application

from liveevents.asgi import StreamBackpressure, StreamRouter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightboard.settings")

# StreamRouter serves the public `flights` stream without Django's middleware and response
# machinery (the cost of a long-lived request); pages, the admin and other streams go to Django.
# StreamBackpressure lets a stream notice a client that stopped reading (daphne's send() never
# waits), so its bounded queue, not the server's memory, absorbs the backlog.
application = StreamBackpressure(StreamRouter(get_asgi_application()))
