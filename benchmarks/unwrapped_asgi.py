"""flightboard without liveevents.asgi.StreamBackpressure: Django's bare ASGI handler.

For comparisons only (benchmarks/slow_client.py --servers daphne-unwrapped): under daphne, whose
send() never waits, this is how a stream behaves when nothing tells it that a client stopped
reading. Serve it from the repository root: `daphne benchmarks.unwrapped_asgi:application`.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightboard.settings")

application = get_asgi_application()
