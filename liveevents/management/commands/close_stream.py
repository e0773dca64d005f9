from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from liveevents.publish import set_stream_closed
from liveevents.streams import declared_streams


class Command(BaseCommand):
    help = "Close a stream: every listener gets closedConnection and new requests get 204 until open_stream."
    closed = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("stream", help="Name of a declared stream, e.g. flights.")

    def handle(self, *args: Any, stream: str, **options: Any) -> None:
        if stream not in declared_streams():
            known = ", ".join(sorted(declared_streams())) or "none"
            raise CommandError(f"Unknown stream {stream!r}. Declared streams: {known}.")
        set_stream_closed(stream, self.closed)
        self.stdout.write(f"Stream {stream!r} is now {'closed' if self.closed else 'open'}.")
