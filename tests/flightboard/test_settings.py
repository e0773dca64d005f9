"""flightboard's settings against liveevents' system checks."""

from __future__ import annotations

from typing import Any

from liveevents.checks import check_asgi, check_settings


def test_project_settings_pass_every_check_but_the_silenced_w001(settings: Any) -> None:
    settings.DEBUG = False
    messages = check_asgi() + check_settings()
    assert [message.id for message in messages] == ["liveevents.W001"]
    assert all(message.is_silenced() for message in messages)


def test_w001_is_silenced_by_flightboard_but_not_by_a_project_that_does_not_ask(settings: Any) -> None:
    settings.DEBUG = False
    settings.SILENCED_SYSTEM_CHECKS = []
    [warning] = check_asgi()
    assert warning.id == "liveevents.W001"
    assert not warning.is_silenced()
