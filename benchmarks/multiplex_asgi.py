"""flightboard.asgi:application with two more public streams (bench.a, bench.b), so that a
connection can follow four: flights, announcements, bench.a and bench.b."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightboard.settings")

from flightboard.asgi import application  # noqa: E402
from liveevents.streams import PUBLIC, declare_stream  # noqa: E402

declare_stream("bench.a", readers=PUBLIC)
declare_stream("bench.b", readers=PUBLIC)

__all__ = ["application"]
