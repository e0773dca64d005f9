"""Template tags for pages that render state and then follow a stream."""

from __future__ import annotations

from django import template
from django.urls import reverse

from liveevents.models import Stream

register = template.Library()


@register.simple_tag
def stream_url(stream: str) -> str:
    """The URL of `stream`'s SSE endpoint."""
    return reverse("liveevents:stream", args=[stream])


@register.simple_tag
def stream_last_id(stream: str) -> int:
    """The stream's current id: render it with the page, read it before the page's data, and
    pass it to the client so nothing is missed between render and connect."""
    return Stream.current_id(stream)
