"""liveevents where prometheus_client cannot be imported: a stream is served (with a repair from
the log), the recorders record nothing, the metrics endpoint says that metrics are off; print a
JSON report.

Run in a fresh process by tests/liveevents/test_metrics.py on the bare test project.
"""

from __future__ import annotations

import asyncio
import json
import sys
from unittest import mock

# As if it were not installed: importing it now raises ImportError.
sys.modules["prometheus_client"] = None  # type: ignore[assignment]

import django  # noqa: E402


async def stream_two_events() -> list[int]:
    """Ids received: one event woken up through the layer, one whose wake-up was lost."""
    from asgiref.sync import sync_to_async
    from django.core.asgi import get_asgi_application

    from liveevents.hub import get_hub
    from liveevents.publish import publish
    from liveevents.testing import open_stream

    async with open_stream(get_asgi_application(), "/events/bulletins/") as response:
        await response.read_until(lambda r: r.parser.retry is not None)
        await sync_to_async(publish)("bulletins", "tick", 1)
        await response.read_events(1)
        with mock.patch("liveevents.wakeup.wake_listeners"):
            await sync_to_async(publish)("bulletins", "tick", 2)
        await get_hub().tick()
        await response.read_events(2)
    await get_hub().aclose()
    return response.ids


def main() -> None:
    django.setup()
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import call_command
    from django.test import RequestFactory, override_settings

    from liveevents import metrics
    from liveevents.checks import check_settings
    from liveevents.views import metrics_view

    call_command("migrate", verbosity=0)
    report: dict[str, object] = {
        "available": metrics.AVAILABLE,
        "recorders": "off" if metrics.get_metrics() is metrics.NO_METRICS else "on",
        "ids": asyncio.run(stream_two_events()),
    }
    factory = RequestFactory()
    with override_settings(LIVEEVENTS={"METRICS_TOKEN": "t0ken"}):
        report["metrics_view"] = {
            "anonymous": metrics_view(factory.get("/metrics/")).status_code,
            "token": metrics_view(factory.get("/metrics/", HTTP_AUTHORIZATION="Bearer t0ken")).status_code,
        }
    with override_settings(LIVEEVENTS={"METRICS": True}):
        report["checks"] = [error.id for error in check_settings()]
        try:
            metrics.get_metrics()
            report["asked_for"] = "metrics"
        except ImproperlyConfigured:
            report["asked_for"] = "ImproperlyConfigured"
    print(json.dumps(report))


if __name__ == "__main__":
    main()
