"""ASGI entry point: `daphne flightboard.asgi:application` serves pages, static files and streams."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightboard.settings")

application = get_asgi_application()
