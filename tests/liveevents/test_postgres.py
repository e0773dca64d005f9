"""Publishing on PostgreSQL with concurrent writers: contiguous ids that follow commit order, and
fragments that read other rows after lock_streams()."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from django.db import connections, transaction

from liveevents.bindings import bind, unbind
from liveevents.models import Event
from liveevents.publish import lock_streams, publish
from liveevents.rendering import rendered
from liveevents.streams import PUBLIC, declare_stream, forget_stream
from tests.notes.models import Ticket

pytestmark = [
    pytest.mark.django_db(databases=["default", "postgres"], transaction=True),
    pytest.mark.timeout(120),
]

WRITERS = 8
TRANSACTIONS_PER_WRITER = 25


class Rollback(Exception):
    pass


def test_concurrent_writers_leave_no_gap_and_no_reordering() -> None:
    stream = "concurrent"
    errors: list[BaseException] = []
    committed = 0
    committed_lock = threading.Lock()
    writers_done = threading.Event()
    seen: list[int] = []

    def writer(seed: int) -> None:
        nonlocal committed
        rng = random.Random(seed)
        try:
            for _ in range(TRANSACTIONS_PER_WRITER):
                count = rng.randint(1, 3)
                try:
                    with transaction.atomic(using="postgres"):
                        for _ in range(count):
                            publish(stream, "tick", {"writer": seed}, using="postgres")
                            time.sleep(rng.random() * 0.002)  # overlap with the others
                        if rng.random() < 0.25:
                            raise Rollback
                    with committed_lock:
                        committed += count
                except Rollback:
                    pass
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    def reader() -> None:
        # A client that reconnects constantly: it reads everything after its position and must
        # never see an id before all lower ids are visible (or it would skip them for good).
        position = 0
        try:
            while True:
                finished = writers_done.is_set()
                rows = Event.objects.using("postgres").filter(stream_id=stream, sequence__gt=position)
                for sequence in rows.order_by("sequence").values_list("sequence", flat=True):
                    assert sequence == position + 1, f"saw {sequence} while {position + 1} was not visible"
                    position = sequence
                    seen.append(sequence)
                if finished:
                    return
                time.sleep(0.001)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writers_done.set()
    watcher.join()

    assert not errors, errors
    ids = list(
        Event.objects.using("postgres")
        .filter(stream_id=stream)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )
    assert committed > 0
    assert ids == list(range(1, committed + 1))
    assert seen == ids


def test_rolled_back_publish_leaves_no_trace_on_postgres() -> None:
    with pytest.raises(Rollback), transaction.atomic(using="postgres"):
        publish("rolledback", "tick", {}, using="postgres")
        raise Rollback
    publish("rolledback", "tick", {}, using="postgres")
    assert list(Event.objects.using("postgres").values_list("sequence", flat=True)) == [1]


def test_a_fragment_read_after_lock_streams_shows_every_change_committed_before_its_event() -> None:
    # Two transactions each add a ticket; a rendered binding lists every ticket. The second reads
    # the list while the first has published but not committed: lock_streams() makes it wait.
    declare_stream("ticket-board", readers=PUBLIC)

    def every_ticket(ticket: Ticket) -> dict[str, Any]:
        lock_streams(["ticket-board"], using="postgres")
        return {"tickets": list(Ticket.objects.using("postgres").order_by("title"))}

    binding = bind(
        Ticket,
        stream="ticket-board",
        saved_event="tickets",
        serialize=rendered("notes/tickets.html", context=every_ticket),
    )
    first_published, first_may_commit = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def add(title: str, hold: bool) -> None:
        try:
            with transaction.atomic(using="postgres"):
                Ticket.objects.using("postgres").create(title=title)
                if hold:
                    first_published.set()
                    assert first_may_commit.wait(10)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    try:
        first = threading.Thread(target=add, args=("Lift", True))
        first.start()
        assert first_published.wait(10)
        second = threading.Thread(target=add, args=("Printer", False))
        second.start()
        time.sleep(0.5)  # the second is waiting for the lock by now
        first_may_commit.set()
        first.join(10)
        second.join(10)
        assert not errors, errors
        events = Event.objects.using("postgres").filter(stream_id="ticket-board").order_by("sequence")
        assert list(events.values_list("data", flat=True)) == [
            "<li>Lift</li>",
            "<li>Lift</li><li>Printer</li>",
        ]
    finally:
        unbind(binding)
        forget_stream("ticket-board")
