"""Template tags for pages that render state and then follow streams: the URL to connect to, and
the position the rendered state matches, read before the state (tags run in document order)."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import reverse

from liveevents.cursor import format_cursor
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


@register.simple_tag
def streams_url(*streams: str) -> str:
    """The URL that serves `streams` over one connection: /events/?stream=A&stream=B."""
    return reverse("liveevents:streams") + "?" + urlencode([("stream", name) for name in streams])


@register.simple_tag
def stream_cursor(*streams: str) -> str:
    """The cursor of `streams` now (`A:12,B:3`), for the client of streams_url: what
    stream_last_id is to one stream."""
    heads = dict(Stream.objects.filter(name__in=streams).values_list("name", "last_id"))
    return format_cursor({name: heads.get(name, 0) for name in streams}, streams[0], streams)


@register.simple_tag
def stream_connect_url(*streams: str) -> str:
    """The URL that follows `streams` from their position now: stream_url (one stream) or
    streams_url (several) with `lastEventId=` its stream_last_id or stream_cursor. For a page
    whose client takes one URL, as htmx's sse-connect does; render it before the state."""
    if not streams:
        raise template.TemplateSyntaxError("stream_connect_url takes the names of one stream or more.")
    if len(streams) == 1:
        return stream_url(streams[0]) + "?" + urlencode({"lastEventId": stream_last_id(streams[0])})
    return streams_url(*streams) + "&" + urlencode({"lastEventId": stream_cursor(*streams)})
