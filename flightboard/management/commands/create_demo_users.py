from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

DEMO_USERS = ("ada", "grace")


class Command(BaseCommand):
    help = (
        "Create two demo travellers, 'ada' and 'grace' (signed-in users, not staff), so that two "
        "people can try My flights (/my/) at once. Each gets a random password, written with the "
        "username as 'username password' lines to a file only the current user can read "
        "(default DJANGO_VAR_DIR/demo-users.txt); sign in at /accounts/login/. Idempotent: a user "
        "who already exists is left alone, password included."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password-file",
            type=Path,
            default=None,
            help="Where to write the passwords (default: DJANGO_VAR_DIR/demo-users.txt).",
        )

    def handle(self, *args: Any, password_file: Path | None, **options: Any) -> None:
        path = password_file or Path(settings.VAR_DIR) / "demo-users.txt"
        User = get_user_model()
        known = _read(path)
        created = []
        for username in DEMO_USERS:
            if User.objects.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(12)
            User.objects.create_user(username=username, email="", password=password)
            known[username] = password
            created.append(username)
        if created:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text("".join(f"{name} {password}\n" for name, password in known.items()))
            self.stdout.write(f"Created demo users {', '.join(created)}; their passwords are in {path}")
        else:
            where = f" (their passwords were written to {path})" if path.exists() else ""
            self.stdout.write(f"The demo users already exist{where}; nothing created.")


def _read(path: Path) -> dict[str, str]:
    """The usernames and passwords written before, to keep them in the file."""
    if not path.exists():
        return {}
    pairs = (line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)
    return {name: password for name, password in pairs}
