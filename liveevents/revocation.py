"""Receivers that end access at once when the site itself takes it away: a logout ends the
session's non-public streams, a deactivation has its user's readers asked again, in every process."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.http import HttpRequest

from liveevents.wakeup import announce_access_change


def session_logged_out(sender: Any, request: HttpRequest, user: Any = None, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key is not None:
        # Sent before logout() flushes the session: its connections end whatever happens next.
        announce_access_change(session_key=key)


def user_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if not raw and getattr(instance, "is_active", True) is False:
        announce_access_change(user_pk=instance.pk)


def connect() -> None:
    """Connect the receivers (AppConfig.ready(), when django.contrib.auth is installed)."""
    user_logged_out.connect(session_logged_out, dispatch_uid="liveevents:logout")
    post_save.connect(user_saved, sender=get_user_model(), dispatch_uid="liveevents:user-saved")
