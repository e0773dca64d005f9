"""Signals liveevents sends: event_published, for code that must see each event as it is logged."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by publish() once the event is in the log, still inside the caller's transaction, with
# `event` (the liveevents.models.Event row) and `using` (the database alias). Receivers that act on
# it outside the database should wait for the commit: transaction.on_commit(..., using=using).
event_published = Signal()
