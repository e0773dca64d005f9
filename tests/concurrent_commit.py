"""A change committed by someone else while the code under test reads: the harness of the tests
that check a page's position is read before its state (liveevents.snapshot and its users)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections


@contextmanager
def concurrent_commit(
    commit: Callable[[], object], *, reading: str = "", before: bool = False, using: str = "default"
) -> Iterator[None]:
    """Run `commit()` on another connection, and wait for it, right after (or right `before`) the
    first query of this thread's connection inside the block whose SQL holds `reading`.

    Another connection, not this one: its commit is what a concurrent request does, and it leaves
    a statement already running untouched. Needs a database the test does not hold in a
    transaction (django_db(transaction=True)), else the commit waits for this test's locks.
    """
    done = False

    def run_commit() -> None:
        errors: list[BaseException] = []

        def other() -> None:
            try:
                commit()
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)
            finally:
                connections.close_all()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(30)
        assert not thread.is_alive(), "the other connection's commit did not finish"
        assert not errors, errors

    def hook(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal done
        now = not done and reading in sql
        done = done or now
        if now and before:
            run_commit()
        result = execute(sql, params, many, context)
        if now and not before:
            run_commit()
        return result

    with connections[using].execute_wrapper(hook):
        yield
    assert done, f"no query{f' reading {reading}' if reading else ''} ran in the block"
