"""`daphne benchmarks.eventstream_site.asgi:application`: Django's ASGI handler, as
django-eventstream 5 documents it, plus the benchmark's /__bench__/save and /__bench__/ping."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.eventstream_site.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

from benchmarks.bench_save import save_eventstream_flight, with_save_endpoint  # noqa: E402

application = with_save_endpoint(get_asgi_application(), save_eventstream_flight)
