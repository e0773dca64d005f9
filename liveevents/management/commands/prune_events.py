from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from liveevents.conf import get_config
from liveevents.retention import prune_events


class Command(BaseCommand):
    help = (
        "Delete logged events older than --days (default: LIVEEVENTS['RETENTION_DAYS']). "
        "Clients whose last id was pruned get streamReset and reload."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=float, help="Keep events newer than this many days.")
        parser.add_argument("--stream", help="Prune only this stream.")

    def handle(self, *args: Any, days: float | None, stream: str | None, **options: Any) -> None:
        if days is None:
            days = get_config()["RETENTION_DAYS"]
            if days is None:
                self.stdout.write("RETENTION_DAYS is None: keeping every event.")
                return
        if days < 0:
            raise CommandError("--days must not be negative.")
        deleted = prune_events(days, stream)
        self.stdout.write(f"Deleted {deleted} event(s) older than {days:g} day(s).")
