from __future__ import annotations

from liveevents.management.commands.close_stream import Command as CloseStreamCommand


class Command(CloseStreamCommand):
    help = "Reopen a stream closed with close_stream."
    closed = False
