from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Create an 'admin' superuser with a random password if no superuser exists, "
        "and write the password to a file only the current user can read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--password-file",
            type=Path,
            default=None,
            help="Where to write the password (default: DJANGO_VAR_DIR/admin-password.txt).",
        )

    def handle(self, *args: Any, username: str, password_file: Path | None, **options: Any) -> None:
        path = password_file or Path(settings.VAR_DIR) / "admin-password.txt"
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            where = f" (its password was written to {path})" if path.exists() else ""
            self.stdout.write(f"A superuser already exists{where}; nothing created.")
            return
        password = secrets.token_urlsafe(18)
        User.objects.create_superuser(username=username, email="", password=password)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(password + "\n")
        self.stdout.write(f"Created superuser {username!r}; its password is in {path}")
