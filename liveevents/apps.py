from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LiveEventsConfig(AppConfig):
    name = "liveevents"
    verbose_name = _("Live events")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps

        from liveevents import checks  # noqa: F401  (registers the system checks)

        if apps.is_installed("django.contrib.auth"):
            from liveevents import revocation

            revocation.connect()
