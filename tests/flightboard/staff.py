"""Staff members with some of flightboard's permissions, and the admin actions offered to them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission, User
from django.test import Client


def staff_client(*codenames: str) -> Client:
    """A client signed in as a staff member with only these permissions of flightboard's."""
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(content_type__app_label="flightboard", codename__in=codenames)
    )
    client = Client()
    client.force_login(staff)
    return client


def offered_actions(response: Any) -> list[str]:
    """The actions an admin change list offers."""
    action_form = response.context["action_form"]
    return [] if action_form is None else [name for name, _ in action_form.fields["action"].choices if name]
