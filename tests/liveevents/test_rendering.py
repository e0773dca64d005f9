"""Rendered bindings: a template per change, whose HTML is the event's data, logged and streamed as
any other event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.template import TemplateDoesNotExist

from liveevents.bindings import ModelBinding, bind, publish_saved, unbind
from liveevents.hub import StreamHub
from liveevents.models import Event
from liveevents.publish import lock_streams
from liveevents.rendering import TemplateFragment, rendered
from liveevents.streams import PUBLIC, declare_stream, forget_stream
from liveevents.testing import capture_events, open_stream
from tests.notes.models import Bulletin, Ticket

HTML_STREAM = "bulletin-items"


def logged(stream: str) -> list[tuple[int, str, str]]:
    rows = Event.objects.filter(stream_id=stream).order_by("sequence")
    return list(rows.values_list("sequence", "event", "data"))


@pytest.fixture
def html_binding() -> Iterator[ModelBinding[Bulletin]]:
    """Bulletins as HTML on a stream of their own, beside tests.notes' JSON binding on `bulletins`."""
    declare_stream(HTML_STREAM, readers=PUBLIC)
    binding = bind(
        Bulletin,
        stream=HTML_STREAM,
        saved_event="bulletinItem",
        deleted_event="bulletinItem",
        serialize=rendered("notes/bulletin.html"),
        serialize_deleted=rendered("notes/bulletin.html", action="deleted"),
    )
    yield binding
    unbind(binding)
    forget_stream(HTML_STREAM)


def test_each_change_logs_its_template_rendered_with_the_instance_and_action(
    db: None, html_binding: ModelBinding[Bulletin]
) -> None:
    bulletin = Bulletin.objects.create(text="Gate B12")
    pk = bulletin.pk
    bulletin.text = "Gate B14"
    bulletin.save()
    bulletin.delete()
    assert logged(HTML_STREAM) == [
        (1, "bulletinItem", f'<li id="bulletin-{pk}" hx-swap-oob="true">Gate B12</li>'),
        (2, "bulletinItem", f'<li id="bulletin-{pk}" hx-swap-oob="true">Gate B14</li>'),
        (3, "bulletinItem", f'<li id="bulletin-{pk}" hx-swap-oob="delete"></li>'),
    ]


def test_values_are_escaped_as_in_any_template(db: None, html_binding: ModelBinding[Bulletin]) -> None:
    Bulletin.objects.create(text='<script>alert("x")</script> & <img src=x onerror=alert(1)>')
    [(_, _, data)] = logged(HTML_STREAM)
    assert "<script" not in data and "<img" not in data
    assert (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;</li>"
    ) in data


def test_the_same_model_feeds_its_json_stream_and_its_html_stream(
    db: None, html_binding: ModelBinding[Bulletin]
) -> None:
    with capture_events() as events:
        bulletin = Bulletin.objects.create(text="Gate B12")
        pk = bulletin.pk
        bulletin.delete()
    assert [(e.stream, e.id, e.event, e.data) for e in events] == [
        ("bulletins", 1, "bulletinSaved", f'{{"id":{pk},"text":"Gate B12"}}'),
        (HTML_STREAM, 1, "bulletinItem", f'<li id="bulletin-{pk}" hx-swap-oob="true">Gate B12</li>'),
        ("bulletins", 2, "bulletinRemoved", f'{{"id":{pk}}}'),
        (HTML_STREAM, 2, "bulletinItem", f'<li id="bulletin-{pk}" hx-swap-oob="delete"></li>'),
    ]


def test_a_rendered_binding_renders_its_template_for_a_delete_by_default(db: None) -> None:
    # Without serialize_deleted, a delete renders the saved events' template with action "deleted":
    # the removal, not the row as it was.
    declare_stream(HTML_STREAM, readers=PUBLIC)
    binding = bind(
        Bulletin,
        stream=HTML_STREAM,
        saved_event="bulletinItem",
        deleted_event="bulletinItem",
        serialize=rendered("notes/bulletin.html", context=lambda bulletin: {"board": "B"}),
    )
    try:
        bulletin = Bulletin.objects.create(text="Gate B12")
        pk = bulletin.pk
        bulletin.delete()
        assert logged(HTML_STREAM) == [
            (1, "bulletinItem", f'<li id="bulletin-{pk}" hx-swap-oob="true">Gate B12 on B</li>'),
            (2, "bulletinItem", f'<li id="bulletin-{pk}" hx-swap-oob="delete"></li>'),
        ]
    finally:
        unbind(binding)
        forget_stream(HTML_STREAM)


def test_more_context_comes_from_a_callable_of_the_instance(db: None) -> None:
    fragment = rendered("notes/bulletin.html", context=lambda bulletin: {"board": f"board {bulletin.pk}"})
    bulletin = Bulletin.objects.create(text="Gate B12")
    assert (
        fragment(bulletin)
        == f'<li id="bulletin-{bulletin.pk}" hx-swap-oob="true">Gate B12 on board {bulletin.pk}</li>'
    )


def test_the_instance_and_action_cannot_be_overridden_by_more_context(db: None) -> None:
    bulletin = Bulletin.objects.create(text="Gate B12")
    other = Bulletin(pk=99, text="other")
    fragment = rendered(
        "notes/bulletin.html",
        action="deleted",
        context=lambda _: {"action": "saved", "instance": other, "bulletin": other},
    )
    assert fragment(bulletin) == f'<li id="bulletin-{bulletin.pk}" hx-swap-oob="delete"></li>'


def test_templates_are_tried_in_order(db: None) -> None:
    bulletin = Bulletin.objects.create(text="Gate B12")
    fragment: TemplateFragment[Bulletin] = rendered(["notes/missing.html", "notes/bulletin.html"])
    assert fragment(bulletin).endswith(">Gate B12</li>")


def test_a_missing_template_fails_the_save_and_publishes_nothing(db: None) -> None:
    declare_stream(HTML_STREAM, readers=PUBLIC)
    binding = bind(Bulletin, stream=HTML_STREAM, saved_event="item", serialize=rendered("notes/missing.html"))
    try:
        with pytest.raises(TemplateDoesNotExist), transaction.atomic():
            Bulletin.objects.create(text="Gate B12")
        assert not Bulletin.objects.exists()
        assert not Event.objects.exists()
    finally:
        unbind(binding)
        forget_stream(HTML_STREAM)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"action": "moved"}, "rendered(action=...) is 'saved' or 'deleted', not 'moved'"),
        ({"context": {"board": "B"}}, "rendered(context=...) takes a callable"),
    ],
)
def test_rendered_refuses_what_it_cannot_use(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        rendered("notes/bulletin.html", **options)


def test_publish_saved_renders_what_the_saves_would_have(
    db: None, html_binding: ModelBinding[Bulletin]
) -> None:
    bulletins = Bulletin.objects.bulk_create([Bulletin(text="one"), Bulletin(text="<two>")])
    publish_saved(Bulletin.objects.filter(pk__in=[b.pk for b in bulletins]).order_by("pk"))
    assert [data for _, _, data in logged(HTML_STREAM)] == [
        f'<li id="bulletin-{bulletins[0].pk}" hx-swap-oob="true">one</li>',
        f'<li id="bulletin-{bulletins[1].pk}" hx-swap-oob="true">&lt;two&gt;</li>',
    ]


# A fragment that shows more than its instance --------------------------------------------------


@pytest.fixture
def ticket_list() -> Iterator[ModelBinding[Ticket]]:
    """Every ticket as HTML after each change, read with the stream locked (lock_streams)."""
    declare_stream("ticket-list", readers=PUBLIC)

    def every_ticket(ticket: Ticket) -> dict[str, Any]:
        lock_streams(["ticket-list"])
        return {"tickets": list(Ticket.objects.order_by("title"))}

    binding = bind(
        Ticket,
        stream="ticket-list",
        saved_event="tickets",
        deleted_event="tickets",
        serialize=rendered("notes/tickets.html", context=every_ticket),
        serialize_deleted=rendered("notes/tickets.html", action="deleted", context=every_ticket),
    )
    yield binding
    unbind(binding)
    forget_stream("ticket-list")


@pytest.mark.parametrize("in_transaction", [True, False], ids=["atomic", "autocommit"])
def test_a_fragment_that_locks_its_stream_may_read_other_rows(
    transactional_db: None, ticket_list: ModelBinding[Ticket], in_transaction: bool
) -> None:
    # Saved outside a transaction too (autocommit): the binding renders in the transaction that
    # publishes, where lock_streams() can hold its lock.
    Ticket.objects.create(title="Printer")
    if in_transaction:
        with transaction.atomic():
            Ticket.objects.create(title="Lift")
    else:
        Ticket.objects.create(title="Lift")
    Ticket.objects.get(title="Printer").delete()
    assert [data for _, _, data in logged("ticket-list")] == [
        "<li>Printer</li>",
        "<li>Lift</li><li>Printer</li>",
        "<li>Lift</li>",
    ]


# On the wire: replayed as it was logged -----------------------------------------------------------


async def test_a_fragment_over_several_lines_is_replayed_exactly_as_logged(
    hub: StreamHub, html_binding: ModelBinding[Bulletin]
) -> None:
    await sync_to_async(Bulletin.objects.create)(text="Gate B12")
    await sync_to_async(Bulletin.objects.create)(text="<script>alert(1)</script>\nline two\r\nthree")
    stored = await sync_to_async(logged)(HTML_STREAM)
    async with open_stream(get_asgi_application(), f"/events/{HTML_STREAM}/?lastEventId=0") as response:
        events = await response.read_events(2)
    # The browser's parser makes one line ending of CRLF: the HTML parser does the same.
    assert [(e.last_event_id, e.event, e.data) for e in events] == [
        (str(sequence), name, data.replace("\r\n", "\n")) for sequence, name, data in stored
    ]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\nline two\nthree</li>" in events[1].data
