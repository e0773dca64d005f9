from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from liveevents.conf import get_config
from liveevents.models import Event


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
        old = Event.objects.filter(created__lt=timezone.now() - timedelta(days=days))
        if stream:
            old = old.filter(stream_id=stream)
        deleted, _ = old.delete()
        self.stdout.write(f"Deleted {deleted} event(s) older than {days:g} day(s).")
