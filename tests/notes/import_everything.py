"""Import every liveevents module and publish one event on the smallest project; print a JSON report.

Run in a fresh process by tests/liveevents/test_bindings.py (DJANGO_SETTINGS_MODULE=tests.notes.settings),
to show that liveevents stands on its own: nothing of flightboard is imported.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys

import django


def main() -> None:
    django.setup()
    from django.apps import apps
    from django.core.management import call_command

    import liveevents

    imported, skipped = [], []
    for module in pkgutil.walk_packages(liveevents.__path__, "liveevents."):
        if module.name == "liveevents.admin" and not apps.is_installed("django.contrib.admin"):
            skipped.append(module.name)  # Django imports admin modules only for django.contrib.admin
            continue
        importlib.import_module(module.name)
        imported.append(module.name)

    call_command("migrate", verbosity=0)
    from liveevents.models import Event
    from tests.notes.models import Note

    Note.objects.create(title="standalone")
    logged = list(Event.objects.values_list("stream_id", "sequence", "event"))
    report = {
        "imported": imported,
        "skipped": skipped,
        "flightboard": sorted(m for m in sys.modules if m == "flightboard" or m.startswith("flightboard.")),
        "logged": logged,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
