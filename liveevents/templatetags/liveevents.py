"""Template tags for pages that render state and then follow streams: the URL to connect to, and
the position the rendered state matches, read before the state (tags run in document order).

Each tag takes declared streams only: a name no declaration matches raises UnknownStream when the
page renders, where it would otherwise render a URL that answers 404 and a position of 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from django import template
from django.templatetags.static import static
from django.urls import reverse

from liveevents.conf import get_config
from liveevents.cursor import format_cursor
from liveevents.models import Stream
from liveevents.streams import require_declared

register = template.Library()


@register.simple_tag
def stream_url(stream: str) -> str:
    """The URL of `stream`'s SSE endpoint."""
    return reverse("liveevents:stream", args=[_declared("stream_url", stream)])


@register.simple_tag
def stream_last_id(stream: str) -> int:
    """The stream's current id: render it with the page, read it before the page's data, and
    pass it to the client so nothing is missed between render and connect."""
    return Stream.current_id(_declared("stream_last_id", stream))


@register.simple_tag
def streams_url(*streams: str) -> str:
    """The URL that serves `streams` over one connection: /events/?stream=A&stream=B."""
    names = _all_declared("streams_url", streams)
    return reverse("liveevents:streams") + "?" + urlencode([("stream", name) for name in names])


@register.simple_tag
def stream_cursor(*streams: str) -> str:
    """The cursor of `streams` now (`A:12,B:3`), for the client of streams_url: what
    stream_last_id is to one stream."""
    names = _all_declared("stream_cursor", streams)
    heads = dict(Stream.objects.filter(name__in=names).values_list("name", "last_id"))
    return format_cursor({name: heads.get(name, 0) for name in names}, names[0], names)


@register.simple_tag
def stream_connect_url(*streams: str) -> str:
    """The URL that follows `streams` from their position now: stream_url (one stream) or
    streams_url (several) with `lastEventId=` its stream_last_id or stream_cursor. For a page
    whose client takes one URL, as htmx's sse-connect does; render it before the state."""
    names = _all_declared("stream_connect_url", streams)
    if len(names) == 1:
        return stream_url(names[0]) + "?" + urlencode({"lastEventId": stream_last_id(names[0])})
    return streams_url(*names) + "&" + urlencode({"lastEventId": stream_cursor(*names)})


def _declared(tag: str, name: object) -> str:
    return require_declared(name, f"{{% {tag} %}}")


def _all_declared(tag: str, streams: Sequence[object]) -> tuple[str, ...]:
    # As the endpoint counts them: duplicates collapse (a cursor must name each stream once), and
    # a URL it would refuse with 400 is not rendered.
    names = tuple(dict.fromkeys(_declared(tag, name) for name in streams))
    limit = get_config()["MAX_STREAMS_PER_CONNECTION"]
    if not names or len(names) > limit:
        raise template.TemplateSyntaxError(
            f"{tag} takes the names of one stream or more, at most {limit} "
            f"(LIVEEVENTS['MAX_STREAMS_PER_CONNECTION']); got {len(names)}."
        )
    return names


@register.simple_tag
def liveevents_client_url() -> str:
    """The URL of liveevents.js, through the static files storage: hashed names (a manifest
    storage), another STATIC_URL or a CDN included. A page's own module imports it from there,
    `await import(main.dataset.clientSrc)`; an import map would be an inline script, which a
    Content-Security-Policy without 'unsafe-inline' or a nonce blocks."""
    return static("liveevents/liveevents.js")
