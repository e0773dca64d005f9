from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from flightboard.models import Announcement

# The demo's announcements, shown from when they are seeded, with no end.
DEMO_ANNOUNCEMENTS = [
    (Announcement.Severity.INFO, "Welcome to the arrivals board: times are local, updates are live."),
    (Announcement.Severity.WARNING, "Baggage belt 3 is out of service: bags from belt 3 arrive on belt 5."),
]


class Command(BaseCommand):
    help = (
        "Put the demo's announcements beside the arrivals. Idempotent: an announcement with the "
        "same text is left alone, even if it has ended."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        created = 0
        # One transaction: each row and its event commit together.
        with transaction.atomic():
            for severity, text in DEMO_ANNOUNCEMENTS:
                _, was_created = Announcement.objects.get_or_create(
                    text=text, defaults={"severity": severity}
                )
                created += was_created
        self.stdout.write(f"Seeded announcements: {created} created, {Announcement.objects.count()} in all.")
