from __future__ import annotations

import datetime
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from flightboard.management.commands.seed_flights import TUTORIAL_FLIGHTS, TUTORIAL_TERMINALS
from flightboard.models import Flight


class Command(BaseCommand):
    help = (
        "Play the tutorial's sequence on a flight, again and again: landing, landed, removal, "
        "then back on the board as scheduled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--flight", default="I768", help="Flight code to animate (default I768).")
        parser.add_argument("--interval", type=float, default=4.0, help="Seconds between steps (default 4).")
        parser.add_argument(
            "--cycles", type=int, default=0, help="Stop after this many cycles (0: run forever)."
        )

    def handle(self, *args: Any, flight: str, interval: float, cycles: int, **options: Any) -> None:
        origin, arrival = next(
            ((o, a) for o, code, a in TUTORIAL_FLIGHTS if code == flight), ("Rome", "10:10")
        )
        terminal = TUTORIAL_TERMINALS.get(flight, "")
        existing = Flight.objects.filter(flight=flight).first()
        if existing is not None:
            origin, arrival = existing.origin, existing.arrival.strftime("%H:%M")
            terminal = existing.terminal
        self.stdout.write(f"Simulating {flight} from {origin} every {interval:g}s; Ctrl-C stops.")
        done = 0
        try:
            while not cycles or done < cycles:
                self._step(flight, origin, arrival, terminal, interval)
                done += 1
        except KeyboardInterrupt:
            pass

    def _step(self, code: str, origin: str, arrival: str, terminal: str, interval: float) -> None:
        # Each change and its event commit together (in autocommit, save() would commit the row
        # before post_save appends the event).
        scheduled = {"origin": origin, "arrival": datetime.time.fromisoformat(arrival), "terminal": terminal}
        with transaction.atomic():
            flight, _ = Flight.objects.get_or_create(flight=code, defaults=scheduled)
        for state in (Flight.State.LANDING, Flight.State.LANDED):
            time.sleep(interval)
            with transaction.atomic():
                flight.state = state
                flight.save(update_fields=["state", "updated"])
            self.stdout.write(f"{code}: {state.label}")
        time.sleep(interval)
        with transaction.atomic():
            flight.delete()
        self.stdout.write(f"{code}: removed")
        time.sleep(interval)
        with transaction.atomic():
            Flight.objects.create(flight=code, **scheduled)
        self.stdout.write(f"{code}: scheduled again")
