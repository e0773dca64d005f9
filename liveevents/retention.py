"""Keeping the log bounded: delete events past the retention age."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from liveevents.models import Event


def prune_events(days: float, stream: str | None = None) -> int:
    """Delete events older than `days` days (of `stream` only, if given); return how many.

    Stream counters are kept, so ids never repeat; a client whose id was pruned gets
    `streamReset` and reloads its state.
    """
    old = Event.objects.filter(created__lt=timezone.now() - timedelta(days=days))
    if stream:
        old = old.filter(stream_id=stream)
    deleted, _ = old.delete()
    return deleted
