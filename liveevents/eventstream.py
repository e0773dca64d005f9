"""send_event() with django-eventstream's signature, publishing on declared liveevents streams.

A project moves from django-eventstream by changing one import:

    from liveevents.eventstream import send_event   # was: from django_eventstream import send_event

and by declaring each channel it sends on as a stream (or a family of streams) with its readers.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from liveevents.models import Event
from liveevents.publish import check_stream_name, publish
from liveevents.streams import UnknownStream, resolve_stream


def send_event(
    channel: str,
    event_type: str,
    data: object,
    skip_user_ids: Collection[str | int] | None = None,
    async_publish: bool = True,
    json_encode: bool = True,
) -> Event:
    """Publish `data` as an `event_type` event on the stream `channel`, as django-eventstream's
    send_event() does on a channel, and return the logged event.

    `channel` must be a declared stream or a member of a declared family
    (liveevents.streams.declare_stream): the declaration says who may read it. The event is
    appended to the log in the caller's transaction and listeners are woken once it commits; a
    rollback sends nothing. It reaches every process's listeners, from any process (a view, the
    shell, a management command), through the channel layer and the log.

    `data` is JSON-encoded with DjangoJSONEncoder, as django-eventstream encodes it (a `str` too
    becomes a JSON string); with `json_encode=False` it must be a `str` and is sent as it is.
    Data that publish() refuses (NaN, NUL in text, more than MAX_EVENT_BYTES) and an event type
    that cannot be an SSE event name raise ValueError or TypeError as there, and write nothing.

    `skip_user_ids` must be empty: a stream's events go to every reader of the stream, and replay
    from the log sends them again later, so no event can leave some readers out. Send to some users
    only on per-user streams instead: a family such as
    `declare_stream("user.{id}", readers=owner("id"))`, one send_event() per user.

    `async_publish` is accepted and has no effect: in django-eventstream it decides whether the
    publish to a GRIP proxy blocks the caller. Here the event is one row written in the caller's
    transaction, and listeners are always woken after the commit, in the background.
    """
    if skip_user_ids:
        raise NotImplementedError(
            "send_event(skip_user_ids=...) is not supported: every reader of a stream gets its events. "
            "To send an event to some users only, publish it on their own streams, e.g. a family "
            "declared with declare_stream('user.{id}', readers=owner('id')), one send_event() per user."
        )
    if json_encode and isinstance(data, str):
        # publish() would send a str as it is; django-eventstream sends it as a JSON string.
        data = json.dumps(data, ensure_ascii=False)
    elif not json_encode and not isinstance(data, str):
        raise TypeError(
            f"send_event(json_encode=False) sends data as it is, so it must be a str, "
            f"not {type(data).__name__}; leave json_encode=True to send it as JSON."
        )
    check_stream_name(channel)
    try:
        resolve_stream(channel)
    except UnknownStream as error:
        raise UnknownStream(
            f"{error} send_event() publishes only on declared streams: declare it with "
            f"liveevents.streams.declare_stream({channel!r}, readers=...), or declare the family it "
            "belongs to with its parameter in braces, e.g. declare_stream('user.{id}', readers=owner('id'))."
        ) from None
    return publish(channel, event_type, data)
