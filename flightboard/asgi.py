"""ASGI entry point: `daphne flightboard.asgi:application` serves pages, static files and streams."""

import gc
import os

from django.core.asgi import get_asgi_application

from liveevents.asgi import StreamBackpressure, StreamRouter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightboard.settings")

# StreamRouter serves the public `flights` stream without Django's middleware and response
# machinery (the cost of a long-lived request); pages, the admin and other streams go to Django.
# StreamBackpressure lets a stream notice a client that stopped reading (daphne's send() never
# waits), so its bounded queue, not the server's memory, absorbs the backlog.
application = StreamBackpressure(StreamRouter(get_asgi_application()))

# A server holding thousands of open streams keeps some 80 objects per stream alive, and Python's
# full garbage collections, which scan all of them, then stall the event loop (about 200 ms at
# 5,000 streams, every few broadcasts: most of the broadcast p99, see BENCHMARKS.md). What was
# loaded by now (Django, the apps, their models and admin) is set aside for good, and collections
# run after 50,000 allocations instead of 700, so full ones come hundreds of broadcasts apart.
gc.freeze()
gc.set_threshold(50_000, 20, 20)
