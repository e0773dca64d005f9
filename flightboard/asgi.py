"""ASGI entry point: `daphne flightboard.asgi:application` serves pages, static files and streams."""

import os

from django.core.asgi import get_asgi_application

from liveevents.asgi import StreamBackpressure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightboard.settings")

# StreamBackpressure lets a stream notice a client that stopped reading (daphne's send()
# never waits), so its bounded queue, not the server's memory, absorbs the backlog.
application = StreamBackpressure(get_asgi_application())
