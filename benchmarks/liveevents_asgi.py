"""flightboard.asgi:application as the benchmark serves it: unchanged, plus /__bench__/save (saves a
Flight in the server process, like an admin save) and /__bench__/ping. Streams go straight to
flightboard's application; the wrapper costs one path comparison per request."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightboard.settings")

from benchmarks.bench_save import save_liveevents_flight, with_save_endpoint  # noqa: E402
from flightboard.asgi import application as flightboard_application  # noqa: E402

application = with_save_endpoint(flightboard_application, save_liveevents_flight)
