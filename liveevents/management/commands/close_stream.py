from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from liveevents.publish import set_stream_closed
from liveevents.streams import UnknownStream, declared_families, declared_streams, resolve_stream


class Command(BaseCommand):
    help = "Close a stream: every listener gets closedConnection and new requests get 204 until open_stream."
    closed = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "stream", help="Name of a declared stream or of a family's stream, e.g. flights or terminal.2."
        )

    def handle(self, *args: Any, stream: str, **options: Any) -> None:
        try:
            resolve_stream(stream)
        except UnknownStream as error:
            known = ", ".join(sorted([*declared_streams(), *declared_families()])) or "none"
            raise CommandError(f"{error} Declared streams: {known}.") from None
        set_stream_closed(stream, self.closed)
        self.stdout.write(f"Stream {stream!r} is now {'closed' if self.closed else 'open'}.")
