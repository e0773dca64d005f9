from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

# daphne's listen queue (Twisted's default is 50): with 50, a reconnect storm of a few thousand
# browsers waits on SYN retransmits (README, "Large boards").
BACKLOG = 4096


def daphne_command(host: str, port: int) -> list[str]:
    """daphne serving the site on host:port with a listen backlog of BACKLOG."""
    interface = host.strip("[]").replace(":", r"\:")  # Twisted's endpoint syntax escapes IPv6 colons
    endpoint = f"tcp:port={port}:interface={interface}:backlog={BACKLOG}"
    return [sys.executable, "-m", "daphne", "-e", endpoint, "flightboard.asgi:application"]


class Command(BaseCommand):
    help = (
        "Prepare and run the demo: migrate, collect static files, seed the tutorial's flights and the "
        "demo's announcements, create an admin if none exists and two demo users (create_demo_users), "
        "then serve with daphne and run the simulator beside it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--interval", type=float, default=4.0, help="Simulator step, in seconds.")
        parser.add_argument("--no-simulator", action="store_true")

    def handle(
        self, *args: Any, host: str, port: int, interval: float, no_simulator: bool, **options: Any
    ) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("seed_flights")
        call_command("seed_announcements")
        call_command("create_demo_admin")
        call_command("create_demo_users")
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        children = [subprocess.Popen(daphne_command(host, port))]
        if not no_simulator:
            children.append(
                subprocess.Popen([sys.executable, manage, "simulate_flights", "--interval", str(interval)])
            )
        base = f"http://{host}:{port}"
        self.stdout.write(
            f"\n  Board:  {base}/\n  Admin:  {base}/admin/\n  Stream: {base}/events/flights/\n"
            f"  Terminals: {base}/terminals/1/, 2/, 3/\n"
            f"  My flights: {base}/my/ (ada and grace: passwords in {settings.VAR_DIR}/demo-users.txt)\n\n"
            "Ctrl-C stops the server and the simulator.\n"
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
