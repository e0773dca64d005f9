from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from flightboard.models import Flight

# The six arrivals of the tutorial the board is modelled on.
TUTORIAL_FLIGHTS = [
    ("London", "A123", "08:15"),
    ("Berlin", "D654", "08:45"),
    ("New York", "U213", "09:05"),
    ("Buenos Aires", "A987", "09:30"),
    ("Rome", "I768", "10:10"),
    ("Tokyo", "G119", "10:35"),
]
# Where each arrives: two flights per terminal board.
TUTORIAL_TERMINALS = {"A123": "1", "D654": "2", "U213": "1", "A987": "3", "I768": "2", "G119": "3"}


class Command(BaseCommand):
    help = (
        "Put the tutorial's six flights on the board, two at each of terminals 1, 2 and 3. "
        "Idempotent: existing flights are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Also set the six flights back to scheduled, at their terminals, as seeded.",
        )

    def handle(self, *args: Any, reset: bool, **options: Any) -> None:
        created = updated = 0
        with transaction.atomic():
            for origin, code, arrival in TUTORIAL_FLIGHTS:
                seeded = {
                    "origin": origin,
                    "arrival": datetime.time.fromisoformat(arrival),
                    "terminal": TUTORIAL_TERMINALS[code],
                    "state": "",
                }
                flight, was_created = Flight.objects.get_or_create(flight=code, defaults=seeded)
                created += was_created
                if reset and not was_created and any(getattr(flight, k) != v for k, v in seeded.items()):
                    for key, value in seeded.items():
                        setattr(flight, key, value)
                    flight.save()
                    updated += 1
        self.stdout.write(
            f"Seeded flights: {created} created, {updated} reset, {Flight.objects.count()} on the board."
        )
