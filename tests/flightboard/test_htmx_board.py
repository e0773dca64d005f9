"""The htmx board (/htmx/): its page, the HTML its streams carry (flights-html, announcements-html),
and the vendored htmx files it loads. Chromium drives it in e2e/test_htmx_board.py."""

from __future__ import annotations

import datetime
import hashlib
import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from flightboard.models import Announcement, Flight
from liveevents.models import Event, Stream
from liveevents.publish import publish
from liveevents.streams import PUBLIC, get_stream
from liveevents.testing import CapturedEvent, capture_events
from tests.concurrent_commit import concurrent_commit

VENDOR = Path(settings.BASE_DIR) / "static" / "vendor" / "htmx"
# As npm publishes them (static/vendor/htmx/README.md): htmx.org@2.0.11, htmx-ext-sse@2.2.4.
VENDORED = {
    "htmx.min.js": "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
    "sse.min.js": "98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136",
}
HOSTILE = '</td><script>alert("x")</script><img src=x onerror=alert(1)>'


def make(code: str, arrival: str, state: str = "", origin: str = "Rome") -> Flight:
    return Flight.objects.create(
        flight=code, origin=origin, arrival=datetime.time.fromisoformat(arrival), state=state
    )


def codes(fragment: str) -> list[str]:
    return re.findall(r'<tr data-flight="([^"]+)">', fragment)


def changed_codes(fragment: str) -> list[str]:
    """The rows whose cells glow (class="changed"), each once."""
    rows = re.findall(r'<tr data-flight="([^"]+)">(.*?)</tr>', fragment, re.DOTALL)
    return [code for code, cells in rows if 'class="changed"' in cells]


def html_events(events: list[CapturedEvent], stream: str) -> list[CapturedEvent]:
    return [event for event in events if event.stream == stream]


@pytest.fixture
def board(db: None) -> dict[str, Flight]:
    return {
        code: make(code, arrival)
        for code, arrival in [("A123", "08:15"), ("U213", "09:05"), ("I768", "10:10")]
    }


# The page ------------------------------------------------------------------------------------------


def page(client: Client) -> str:
    response = client.get("/htmx/")
    assert response.status_code == 200
    return response.content.decode()


def main_tag(content: str) -> str:
    found = re.search(r"<main\b[^>]*>", content)
    assert found
    return found.group(0)


def test_the_page_renders_the_rows_in_arrival_order_and_follows_both_streams_from_before_them(
    client: Client, board: dict[str, Flight]
) -> None:
    publish("announcements-html", "tickerItems", "")
    head = Stream.current_id("flights-html")
    content = page(client)
    assert codes(content) == ["A123", "U213", "I768"]
    main = main_tag(content)
    assert 'hx-ext="sse,liveevents"' in main
    connect = html.unescape(re.search(r'sse-connect="([^"]*)"', main).group(1))  # type: ignore[union-attr]
    assert connect == (
        "/events/?stream=flights-html&stream=announcements-html"
        f"&lastEventId=flights-html%3A{head}%2Cannouncements-html%3A1"
    )
    assert '<tbody id="flight-rows" sse-swap="flightRows">' in content
    assert '<ul id="announcement-list" class="ticker-list" sse-swap="tickerItems">' in content
    assert "data-live-status" not in main  # "Static" until liveevents-htmx.js says otherwise


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_a_flight_added_while_the_page_reads_is_shown_or_replayed(
    board: dict[str, Flight], before: bool
) -> None:
    # Just before or just after the page reads its position, another request adds a flight: the
    # page shows it, or follows flights-html from before its event (then it is replayed).
    with concurrent_commit(lambda: make("N001", "09:30"), reading='FROM "liveevents_stream"', before=before):
        content = page(Client())
    event = Event.objects.filter(stream_id="flights-html").order_by("sequence").last()
    assert event is not None and "N001" in codes(event.data)
    connect = html.unescape(re.search(r'sse-connect="([^"]*)"', main_tag(content)).group(1))  # type: ignore[union-attr]
    cursor = parse_qs(urlsplit(connect).query)["lastEventId"][0]
    position = int(dict(pair.split(":") for pair in cursor.split(","))["flights-html"])
    assert "N001" in codes(content) or position < event.sequence


def test_the_page_loads_htmx_and_the_extensions_from_static_files_and_no_script_of_its_own(
    client: Client, board: dict[str, Flight]
) -> None:
    content = page(client)
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", content, re.DOTALL)
    assert [(attributes, body) for attributes, body in scripts] == [
        (' src="/static/vendor/htmx/htmx.min.js" defer', ""),
        (' src="/static/vendor/htmx/sse.min.js" defer', ""),
        (' src="/static/liveevents/liveevents-htmx.js" defer', ""),
    ]
    assert "board.js" not in content
    assert not re.search(r"\sstyle=", content, re.IGNORECASE)
    assert "<style" not in content.lower()
    assert not re.search(r"\son[a-z]+=", content, re.IGNORECASE)
    assert not re.search(r"\shx-on", content)


def test_htmx_is_configured_for_the_content_security_policy(client: Client, board: dict[str, Flight]) -> None:
    content = page(client)
    found = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", content)
    assert found
    # Its indicator <style>, eval (hx-on, js: values, trigger filters) and <script> in swapped
    # HTML would each break the policy.
    assert json.loads(found.group(1)) == {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
    }


@pytest.mark.parametrize("name", sorted(VENDORED))
def test_the_vendored_files_are_the_npm_packages_own(name: str) -> None:
    assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == VENDORED[name]
    assert VENDORED[name] in (VENDOR / "README.md").read_text()


def test_the_vendored_files_come_with_their_licences() -> None:
    for licence in ("LICENSE-htmx.org", "LICENSE-htmx-ext-sse"):
        assert "Permission to use, copy, modify, and/or distribute" in (VENDOR / licence).read_text()


def test_the_board_links_to_the_htmx_board(client: Client, board: dict[str, Flight]) -> None:
    content = client.get("/").content.decode()
    assert '<a href="/htmx/">The arrivals board in htmx, with no JavaScript of its own</a>' in content


def test_the_htmx_board_streams_are_public() -> None:
    assert get_stream("flights-html").readers is PUBLIC  # type: ignore[union-attr]
    assert get_stream("announcements-html").readers is PUBLIC  # type: ignore[union-attr]


# flights-html: the rows after each change -------------------------------------------------------------


def test_a_new_flight_sends_every_row_in_arrival_order_with_its_own_highlighted(
    board: dict[str, Flight],
) -> None:
    with capture_events("flights-html") as events:
        make("E100", "09:17", "delayed", origin="Oslo")
    [event] = events
    assert event.event == "flightRows"
    assert codes(event.data) == ["A123", "U213", "E100", "I768"]
    assert changed_codes(event.data) == ["E100"]
    assert '<td data-field="state" data-state="delayed" class="changed">Delayed</td>' in event.data
    assert '<div id="announcer" hx-swap-oob="innerHTML">E100 from Oslo: Delayed</div>' in event.data
    assert re.search(
        r'<time id="last-update" datetime="[^"]+" hx-swap-oob="true">\d\d:\d\d:\d\d</time>', event.data
    )


def test_a_change_of_arrival_moves_the_row(board: dict[str, Flight]) -> None:
    flight = board["I768"]
    flight.arrival = datetime.time(7, 0)
    with capture_events("flights-html") as events:
        flight.save()
    assert codes(events[0].data) == ["I768", "A123", "U213"]


def test_a_removed_flight_is_gone_from_the_rows_sent(board: dict[str, Flight]) -> None:
    with capture_events("flights-html") as events:
        board["U213"].delete()
    [event] = events
    assert event.event == "flightRows"
    assert codes(event.data) == ["A123", "I768"]
    assert changed_codes(event.data) == []
    assert '<div id="announcer" hx-swap-oob="innerHTML">U213 removed</div>' in event.data


def test_the_last_flight_removed_leaves_the_empty_row(db: None) -> None:
    flight = make("A123", "08:15")
    with capture_events("flights-html") as events:
        flight.delete()
    assert (
        '<tr id="no-flights" class="empty"><td colspan="4">No flights on the board.</td></tr>'
        in events[0].data
    )


def test_hostile_values_arrive_as_text(db: None) -> None:
    with capture_events("flights-html") as events:
        make("E101", "12:00", origin=HOSTILE)
    data = events[0].data
    assert "<script" not in data and "<img" not in data
    assert html.escape(HOSTILE) in data
    assert (
        html.unescape(re.search(r'data-field="origin" class="changed">(.*?)</td>', data).group(1)) == HOSTILE
    )  # type: ignore[union-attr]


def test_each_save_sends_json_on_the_board_streams_and_html_on_its_own(board: dict[str, Flight]) -> None:
    flight = board["A123"]
    flight.state = Flight.State.LANDING
    with capture_events() as events:
        flight.save()
    assert [(event.stream, event.event) for event in events] == [
        ("flights", "flightStateUpdate"),
        ("flight.A123", "flightStateUpdate"),
        ("flights-html", "flightRows"),
    ]


def test_the_page_and_a_fragment_render_the_same_rows(client: Client, board: dict[str, Flight]) -> None:
    flight = board["U213"]
    flight.state = Flight.State.LANDED
    with capture_events("flights-html") as events:
        flight.save()
    fragment = events[0].data.split("<div id=")[0].replace(' class="changed"', "")
    content = page(client)
    tbody = re.search(r'<tbody id="flight-rows"[^>]*>(.*?)</tbody>', content, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert normalised(tbody) == normalised(fragment)


def normalised(markup: str) -> str:
    return re.sub(r">\s+<", "><", markup.strip())


# announcements-html: the ticker after each change ---------------------------------------------------


def test_the_ticker_sends_the_announcements_shown_now_most_severe_first(db: None) -> None:
    now = timezone.now()
    Announcement.objects.create(
        text="Belt 3 closed", severity="warning", shown_from=now - datetime.timedelta(hours=1)
    )
    Announcement.objects.create(text="Later", shown_from=now + datetime.timedelta(hours=1))
    with capture_events("announcements-html") as events:
        fog = Announcement.objects.create(text="Fog <b>in</b> Rome", severity="alert")
        fog.delete()
    assert [event.event for event in events] == ["tickerItems", "tickerItems"]
    texts = [re.findall(r'data-field="text">([^<]*)</span>', event.data) for event in events]
    assert texts == [["Fog &lt;b&gt;in&lt;/b&gt; Rome", "Belt 3 closed"], ["Belt 3 closed"]]


def test_the_rows_are_read_with_their_stream_locked(board: dict[str, Flight], monkeypatch: Any) -> None:
    locked: list[list[str]] = []
    import flightboard.fragments

    real = flightboard.fragments.lock_streams

    def recording(streams: Any, **options: Any) -> Any:
        locked.append(list(streams))
        return real(streams, **options)

    monkeypatch.setattr(flightboard.fragments, "lock_streams", recording)
    board["A123"].save()
    Announcement.objects.create(text="Belt 3 closed")
    assert locked == [["flights-html"], ["announcements-html"]]
