"""capture_events(): the events a block of code publishes and commits, as mail.outbox is for mail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from liveevents.models import Event
from liveevents.signals import event_published


class CapturedEvent(NamedTuple):
    """An event as listeners receive it: its stream, id, name and data (the text in the log)."""

    stream: str
    id: int
    event: str
    data: str

    def json(self) -> Any:
        """The data decoded as JSON (bindings publish JSON)."""
        return json.loads(self.data)


class _OnCommit:
    """Adds one event to a capture when its transaction commits; at most once."""

    def __init__(self, captured: list[CapturedEvent], event: CapturedEvent) -> None:
        self.captured = captured
        self.event = event
        self.done = False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            self.captured.append(self.event)


@contextmanager
def capture_events(stream: str | None = None) -> Iterator[list[CapturedEvent]]:
    """Collect, in commit order, the events published inside the block (on `stream` only, if
    given) whose transaction commits; a rolled-back event never appears.

    Inside a Django `TestCase` (or pytest-django's `db` fixture), whose transaction never commits,
    an event counts as committed once every transaction of the code under test has: what is left
    open at the end of the block is the test's own.
    """
    captured: list[CapturedEvent] = []
    pending: dict[str, list[_OnCommit]] = {}

    def record(sender: type[Event], event: Event, using: str | None = None, **kwargs: Any) -> None:
        if stream is None or event.stream_id == stream:
            on_commit = _OnCommit(
                captured, CapturedEvent(event.stream_id, event.sequence, event.event, event.data)
            )
            pending.setdefault(using or DEFAULT_DB_ALIAS, []).append(on_commit)
            transaction.on_commit(on_commit, using=using)

    event_published.connect(record, weak=False)
    try:
        yield captured
    finally:
        event_published.disconnect(record)
        for alias, callbacks in pending.items():
            if _only_test_transactions_open(alias):
                for on_commit in callbacks:
                    if not _rolled_back(alias, on_commit):
                        on_commit()


def _only_test_transactions_open(alias: str) -> bool:
    connection = connections[alias]
    blocks = connection.atomic_blocks
    return bool(blocks) and all(getattr(block, "_from_testcase", False) for block in blocks)


def _rolled_back(alias: str, on_commit: _OnCommit) -> bool:
    # A savepoint rollback discards its on-commit callbacks: whatever is still listed will commit.
    # Entries are (savepoint ids, callback, robust); django-stubs lists only the first two.
    return not any(entry[1] is on_commit for entry in connections[alias].run_on_commit)
