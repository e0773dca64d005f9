"""flightboard's announcements: the model, its binding to `announcements`, the admin, the ticker, the seed."""

from __future__ import annotations

import datetime
import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from flightboard.management.commands.seed_announcements import DEMO_ANNOUNCEMENTS
from flightboard.models import Announcement
from liveevents.models import Stream
from liveevents.publish import publish
from liveevents.streams import PUBLIC, get_stream
from liveevents.testing import capture_events
from tests.flightboard.staff import offered_actions, staff_client

CHANGELIST = "/admin/flightboard/announcement/"
ADD = "/admin/flightboard/announcement/add/"
HOUR = datetime.timedelta(hours=1)
ENDS_BEFORE_START = "An announcement must end after it starts: set a later time, or none."


def make(text: str, **fields: Any) -> Announcement:
    return Announcement.objects.create(text=text, **fields)


def iso(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).isoformat(timespec="milliseconds")


# The model -------------------------------------------------------------------------------------


@pytest.mark.parametrize("until", [datetime.timedelta(0), -datetime.timedelta(seconds=1), -HOUR])
def test_announcement_ending_at_or_before_its_start_is_refused_with_a_clear_message(
    db: None, until: datetime.timedelta
) -> None:
    start = timezone.now()
    announcement = Announcement(text="Gate change", shown_from=start, shown_until=start + until)
    with pytest.raises(ValidationError) as error:
        announcement.full_clean()
    assert error.value.message_dict == {"shown_until": [ENDS_BEFORE_START]}


@pytest.mark.parametrize("until", [None, datetime.timedelta(seconds=1), HOUR])
def test_announcement_with_no_end_or_a_later_end_is_valid(db: None, until: datetime.timedelta | None) -> None:
    start = timezone.now()
    Announcement(
        text="Gate change", shown_from=start, shown_until=None if until is None else start + until
    ).full_clean()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "This field cannot be blank."),
        ("x" * 281, "Ensure this value has at most 280 characters (it has 281)."),
    ],
)
def test_announcement_text_is_required_and_bounded(db: None, text: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        Announcement(text=text).full_clean()
    assert error.value.message_dict == {"text": [message]}


def test_new_announcement_is_info_shown_from_now_with_no_end(db: None) -> None:
    before = timezone.now()
    announcement = make("Welcome")
    assert announcement.severity == "info"
    assert before <= announcement.shown_from <= timezone.now()
    assert announcement.shown_until is None
    assert announcement.is_shown_at(timezone.now())


def test_shown_at_keeps_what_has_started_and_not_ended(db: None) -> None:
    t = timezone.now()
    make("starts now", shown_from=t)
    make("started, no end", shown_from=t - HOUR)
    make("started, ends later", shown_from=t - HOUR, shown_until=t + HOUR)
    make("ends now", shown_from=t - HOUR, shown_until=t)
    make("ended", shown_from=t - 2 * HOUR, shown_until=t - HOUR)
    make("starts later", shown_from=t + datetime.timedelta(seconds=1))
    shown = Announcement.objects.shown_at(t)
    assert sorted(shown.values_list("text", flat=True)) == [
        "started, ends later",
        "started, no end",
        "starts now",
    ]
    assert sorted(a.text for a in Announcement.objects.all() if a.is_shown_at(t)) == sorted(
        shown.values_list("text", flat=True)
    )
    assert list(Announcement.objects.starting_after(t).values_list("text", flat=True)) == ["starts later"]
    assert sorted(Announcement.objects.ended_by(t).values_list("text", flat=True)) == ["ended", "ends now"]


def test_announcements_are_ordered_most_severe_first_then_by_start(db: None) -> None:
    t = timezone.now() - HOUR
    make("info early", severity="info", shown_from=t)
    make("alert late", severity="alert", shown_from=t + 2 * HOUR)
    make("warning", severity="warning", shown_from=t)
    make("alert early", severity="alert", shown_from=t)
    assert list(Announcement.objects.values_list("text", flat=True)) == [
        "alert early",
        "alert late",
        "warning",
        "info early",
    ]


def test_announcement_event_data_is_the_whole_announcement_with_iso_times(db: None) -> None:
    start = datetime.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=datetime.UTC)
    announcement = make("Belt 3 closed", severity="warning", shown_from=start, shown_until=start + HOUR)
    assert announcement.as_event_data() == {
        "id": announcement.pk,
        "text": "Belt 3 closed",
        "severity": "warning",
        "severity_label": "Warning",
        "shown_from": "2026-03-01T09:30:15.123+00:00",
        "shown_until": "2026-03-01T10:30:15.123+00:00",
    }
    announcement.shown_until = None
    assert announcement.as_event_data()["shown_until"] is None


def test_announcement_times_are_sent_in_utc_whatever_the_time_zone(db: None) -> None:
    rome = datetime.timezone(datetime.timedelta(hours=2))
    announcement = make("Ciao", shown_from=datetime.datetime(2026, 6, 1, 12, 0, tzinfo=rome))
    assert announcement.as_event_data()["shown_from"] == "2026-06-01T10:00:00.000+00:00"
    assert announcement.shown_from_iso == "2026-06-01T10:00:00.000+00:00"
    assert announcement.shown_until_iso == ""


# The binding -----------------------------------------------------------------------------------


def test_announcements_stream_is_declared_public() -> None:
    spec = get_stream("announcements")
    assert spec is not None
    assert spec.readers is PUBLIC


def test_announcement_create_update_delete_publish_the_whole_row_then_the_removal(db: None) -> None:
    start = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)
    with capture_events("announcements") as events:
        announcement = make("Belt 3 closed", shown_from=start)
        pk = announcement.pk
        announcement.severity = Announcement.Severity.ALERT
        announcement.shown_until = start + HOUR
        announcement.save()
        announcement.delete()
    row = {"id": pk, "text": "Belt 3 closed", "shown_from": "2026-03-01T09:00:00.000+00:00"}
    assert [(e.event, e.json()) for e in events] == [
        ("announcementUpdate", {**row, "severity": "info", "severity_label": "Info", "shown_until": None}),
        (
            "announcementUpdate",
            {
                **row,
                "severity": "alert",
                "severity_label": "Alert",
                "shown_until": "2026-03-01T10:00:00.000+00:00",
            },
        ),
        ("announcementRemoval", {"id": pk}),
    ]


def test_announcement_changes_publish_on_announcements_only(db: None) -> None:
    with capture_events() as events:
        make("Belt 3 closed").delete()
    # And as HTML, for the htmx board's ticker.
    assert [(e.stream, e.event) for e in events] == [
        ("announcements", "announcementUpdate"),
        ("announcements-html", "tickerItems"),
        ("announcements", "announcementRemoval"),
        ("announcements-html", "tickerItems"),
    ]


# The admin: changelist -------------------------------------------------------------------------


@pytest.fixture
def announcements(db: None) -> dict[str, Announcement]:
    now = timezone.now()
    return {
        "shown": make("Belt 3 closed", severity="warning", shown_from=now - HOUR),
        "alert": make("Fog in Rome", severity="alert", shown_from=now - HOUR, shown_until=now + HOUR),
        "upcoming": make("Lounge opens soon", shown_from=now + HOUR, shown_until=now + 2 * HOUR),
        "ended": make("Strike is over", shown_from=now - 2 * HOUR, shown_until=now - HOUR),
    }


def listed(response: Any) -> list[str]:
    return [announcement.text for announcement in response.context["cl"].result_list]


def test_changelist_lists_announcements_most_severe_first_with_times_and_shown_now(
    admin_client: Client, announcements: dict[str, Announcement]
) -> None:
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert listed(response) == ["Fog in Rome", "Belt 3 closed", "Strike is over", "Lounge opens soon"]
    content = response.content.decode()
    for column in ("column-severity_display", "column-shown_from", "column-shown_until", "column-shown_now"):
        assert column in content
    shown_now = re.findall(r'<td class="field-shown_now"><img src="[^"]*icon-(yes|no)\.svg"', content)
    assert shown_now == ["yes", "yes", "no", "no"]
    assert '<td class="field-severity_display">Alert</td>' in content


def test_changelist_search_matches_the_text(
    admin_client: Client, announcements: dict[str, Announcement]
) -> None:
    assert listed(admin_client.get(CHANGELIST, {"q": "rome"})) == ["Fog in Rome"]
    assert listed(admin_client.get(CHANGELIST, {"q": "lounge"})) == ["Lounge opens soon"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"shown": "now"}, ["Fog in Rome", "Belt 3 closed"]),
        ({"shown": "upcoming"}, ["Lounge opens soon"]),
        ({"shown": "ended"}, ["Strike is over"]),
        ({"severity__exact": "warning"}, ["Belt 3 closed"]),
        ({"severity__exact": "info"}, ["Strike is over", "Lounge opens soon"]),
    ],
)
def test_changelist_filters_by_shown_and_severity(
    admin_client: Client, announcements: dict[str, Announcement], params: dict[str, str], expected: list[str]
) -> None:
    response = admin_client.get(CHANGELIST, params)
    assert response.status_code == 200
    assert listed(response) == expected


# The admin: adding, changing, deleting ---------------------------------------------------------


def form_data(
    text: str, start: datetime.datetime, until: datetime.datetime | None, **fields: str
) -> dict[str, str]:
    data = {
        "text": text,
        "severity": "info",
        "shown_from_0": start.strftime("%Y-%m-%d"),
        "shown_from_1": start.strftime("%H:%M:%S"),
        "shown_until_0": until.strftime("%Y-%m-%d") if until else "",
        "shown_until_1": until.strftime("%H:%M:%S") if until else "",
    }
    return {**data, **fields}


def test_adding_an_announcement_publishes_it(admin_client: Client, db: None) -> None:
    start = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)
    with capture_events("announcements") as events:
        response = admin_client.post(ADD, form_data("Belt 3 closed", start, start + HOUR, severity="alert"))
    assert response.status_code == 302
    announcement = Announcement.objects.get()
    assert [(e.event, e.json()) for e in events] == [
        (
            "announcementUpdate",
            {
                "id": announcement.pk,
                "text": "Belt 3 closed",
                "severity": "alert",
                "severity_label": "Alert",
                "shown_from": "2026-03-01T09:00:00.000+00:00",
                "shown_until": "2026-03-01T10:00:00.000+00:00",
            },
        )
    ]


@pytest.mark.parametrize("until", [datetime.timedelta(0), -HOUR])
def test_adding_an_announcement_that_ends_before_it_starts_is_refused_with_a_clear_message(
    admin_client: Client, db: None, until: datetime.timedelta
) -> None:
    start = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)
    with capture_events() as events:
        response = admin_client.post(ADD, form_data("Belt 3 closed", start, start + until))
    assert response.status_code == 200
    assert html.escape(ENDS_BEFORE_START) in response.content.decode()
    assert not Announcement.objects.exists()
    assert events == []


def test_editing_an_announcement_in_the_admin_publishes_the_change(
    admin_client: Client, announcements: dict[str, Announcement]
) -> None:
    announcement = announcements["shown"]
    with capture_events("announcements") as events:
        response = admin_client.post(
            f"{CHANGELIST}{announcement.pk}/change/",
            form_data("Belt 3 and 4 closed", announcement.shown_from, None, severity="alert"),
        )
    assert response.status_code == 302
    [event] = events
    assert event.event == "announcementUpdate"
    assert {k: event.json()[k] for k in ("id", "text", "severity")} == {
        "id": announcement.pk,
        "text": "Belt 3 and 4 closed",
        "severity": "alert",
    }


def test_deleting_an_announcement_in_the_admin_publishes_its_removal(
    admin_client: Client, announcements: dict[str, Announcement]
) -> None:
    pk = announcements["shown"].pk
    with capture_events("announcements") as events:
        response = admin_client.post(f"{CHANGELIST}{pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert [(e.event, e.json()) for e in events] == [("announcementRemoval", {"id": pk})]
    assert not Announcement.objects.filter(pk=pk).exists()


def test_deleting_selected_announcements_publishes_one_removal_each(
    admin_client: Client, announcements: dict[str, Announcement]
) -> None:
    selected = [announcements["shown"], announcements["ended"]]
    with capture_events("announcements") as events:
        response = act(admin_client, "delete_selected", selected, post="yes")
    assert response.status_code == 200
    assert sorted((e.event, e.json()["id"]) for e in events) == sorted(
        ("announcementRemoval", a.pk) for a in selected
    )
    assert Announcement.objects.count() == 2


# The admin: actions ----------------------------------------------------------------------------


def act(client: Client, action: str, selected: list[Announcement], **extra: str) -> Any:
    return client.post(
        CHANGELIST,
        {"action": action, ACTION_CHECKBOX_NAME: [str(a.pk) for a in selected], "index": "0", **extra},
        follow=True,
    )


def test_show_now_starts_them_now_and_clears_a_past_end(
    admin_client: Client, announcements: dict[str, Announcement]
) -> None:
    upcoming, ended = announcements["upcoming"], announcements["ended"]
    kept_until = upcoming.shown_until
    before = timezone.now()
    with capture_events("announcements") as events:
        response = act(admin_client, "show_now", [upcoming, ended, announcements["shown"]])
    after = timezone.now()
    assert "2 announcement(s) shown now." in response.content.decode()
    upcoming.refresh_from_db()
    ended.refresh_from_db()
    assert before <= upcoming.shown_from <= after
    assert upcoming.shown_until == kept_until  # still to come: kept
    assert before <= ended.shown_from <= after
    assert ended.shown_until is None  # had passed: cleared
    assert sorted((e.event, e.json()["id"]) for e in events) == sorted(
        ("announcementUpdate", a.pk) for a in (upcoming, ended)
    )  # the one already shown is left alone
    assert [e.json() for e in events if e.json()["id"] == ended.pk][0]["shown_until"] is None
    assert set(Announcement.objects.shown_at(timezone.now()).values_list("pk", flat=True)) >= {
        upcoming.pk,
        ended.pk,
    }


def test_end_now_ends_what_is_shown_and_leaves_the_rest(
    admin_client: Client, announcements: dict[str, Announcement]
) -> None:
    shown, upcoming, ended = announcements["shown"], announcements["upcoming"], announcements["ended"]
    ended_until, upcoming_until = ended.shown_until, upcoming.shown_until
    before = timezone.now()
    with capture_events("announcements") as events:
        response = act(admin_client, "end_now", [shown, upcoming, ended])
    after = timezone.now()
    content = response.content.decode()
    assert "1 announcement(s) ended." in content
    assert "1 announcement(s) not shown yet, left as scheduled (delete one to cancel it)." in content
    shown.refresh_from_db()
    assert shown.shown_until is not None
    assert before <= shown.shown_until <= after
    assert [(e.event, e.json()["id"], e.json()["shown_until"]) for e in events] == [
        ("announcementUpdate", shown.pk, iso(shown.shown_until))
    ]
    assert Announcement.objects.get(pk=upcoming.pk).shown_until == upcoming_until
    assert Announcement.objects.get(pk=ended.pk).shown_until == ended_until
    assert not Announcement.objects.shown_at(timezone.now()).filter(pk=shown.pk).exists()


@pytest.mark.parametrize(
    "codenames",
    [("view_announcement",), ("view_announcement", "delete_announcement")],
    ids=["view", "view+delete"],
)
@pytest.mark.parametrize("action", ["show_now", "end_now"])
def test_actions_are_refused_to_staff_without_the_change_permission(
    announcements: dict[str, Announcement], codenames: tuple[str, ...], action: str
) -> None:
    client = staff_client(*codenames)
    changelist = client.get(CHANGELIST)
    assert changelist.status_code == 200
    assert "show_now" not in offered_actions(changelist)
    assert "end_now" not in offered_actions(changelist)
    snapshot = list(Announcement.objects.values_list("pk", "shown_from", "shown_until", "updated"))
    with capture_events() as events:
        response = act(client, action, list(announcements.values()))
    assert response.status_code == 200
    assert "shown now." not in response.content.decode()
    assert "ended." not in response.content.decode()
    assert list(Announcement.objects.values_list("pk", "shown_from", "shown_until", "updated")) == snapshot
    assert events == []


def test_actions_are_offered_to_staff_with_the_change_permission(
    announcements: dict[str, Announcement],
) -> None:
    client = staff_client("view_announcement", "change_announcement")
    assert offered_actions(client.get(CHANGELIST)) == ["show_now", "end_now"]
    with capture_events("announcements") as events:
        act(client, "end_now", [announcements["shown"]])
    assert [e.json()["id"] for e in events] == [announcements["shown"].pk]


# The board page --------------------------------------------------------------------------------


def ticker(content: str) -> str:
    match = re.search(r'<ul id="announcement-list" class="ticker-list">(.*?)</ul>', content, re.DOTALL)
    assert match is not None
    return match.group(1)


def upcoming(content: str) -> str:
    match = re.search(r'<template id="upcoming-announcements">(.*?)</template>', content, re.DOTALL)
    assert match is not None
    return match.group(1)


def ids(fragment: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-announcement="(\d+)"', fragment)]


def test_board_ticker_shows_only_the_announcements_shown_now_most_severe_first(
    client: Client, announcements: dict[str, Announcement]
) -> None:
    content = client.get("/").content.decode()
    assert ids(ticker(content)) == [announcements["alert"].pk, announcements["shown"].pk]
    assert ids(upcoming(content)) == [announcements["upcoming"].pk]  # held out of sight for board.js
    assert "Strike is over" not in content
    alert = announcements["alert"]
    assert alert.shown_until is not None
    assert (
        f'<li class="announcement" data-announcement="{alert.pk}" data-severity="alert"'
        f' data-from="{iso(alert.shown_from)}" data-until="{iso(alert.shown_until)}">'
    ) in content
    assert f'data-announcement="{announcements["shown"].pk}" data-severity="warning"' in content
    assert re.search(r'data-severity="warning" data-from="[^"]+" data-until="">', content)
    assert '<span class="announcement-severity" data-field="severity">Alert</span>' in content
    assert '<span class="announcement-text" data-field="text">Fog in Rome</span>' in content


def test_board_ticker_is_a_named_polite_live_region(
    client: Client, announcements: dict[str, Announcement]
) -> None:
    content = client.get("/").content.decode()
    section = re.search(r"<section ([^>]*)>", content)
    assert section is not None
    assert 'id="announcements"' in section.group(1)
    assert 'aria-live="polite"' in section.group(1)
    assert 'aria-labelledby="announcements-title"' in section.group(1)
    assert "data-empty" not in section.group(1)
    assert '<h2 id="announcements-title" class="visually-hidden">Announcements</h2>' in content


def test_board_with_no_announcement_shown_keeps_an_empty_ticker_for_later_ones(
    client: Client, db: None
) -> None:
    make("Strike is over", shown_from=timezone.now() - 2 * HOUR, shown_until=timezone.now() - HOUR)
    content = client.get("/").content.decode()
    assert ids(ticker(content)) == []
    assert ids(upcoming(content)) == []
    assert re.search(r'<section id="announcements"[^>]* aria-live="polite" data-empty>', content)


@pytest.mark.parametrize(
    "evil", ["<script>alert(1)</script>", "</li><img src=x onerror=alert(1)>", '" onmouseover="alert(1)']
)
def test_board_ticker_escapes_announcement_text(client: Client, db: None, evil: str) -> None:
    make(evil, severity="alert")
    make(evil, shown_from=timezone.now() + HOUR)
    content = client.get("/").content.decode()
    assert evil not in content
    assert content.count(f'<span class="announcement-text" data-field="text">{html.escape(evil)}</span>') == 2
    assert content.count("<script") == 1  # board.js
    assert "<img" not in content


def test_board_follows_flights_and_announcements_over_one_connection(
    client: Client, announcements: dict[str, Announcement]
) -> None:
    publish("announcements", "announcementUpdate", {"id": 0})
    content = client.get("/").content.decode()
    assert 'data-streams-url="/events/?stream=flights&amp;stream=announcements"' in content
    assert f'data-stream-cursor="flights:0,announcements:{Stream.current_id("announcements")}"' in content
    assert "data-stream-url=" not in content


def test_board_has_no_inline_style_or_script(client: Client, announcements: dict[str, Announcement]) -> None:
    content = client.get("/").content.decode()
    assert not re.search(r"\sstyle=", content, re.IGNORECASE)
    assert "<style" not in content.lower()
    assert re.findall(r"<script\b([^>]*)>(.*?)</script>", content, re.DOTALL) == [
        (' type="module" src="/static/flightboard/board.js"', "")
    ]


# Management command: seed_announcements --------------------------------------------------------


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def test_seed_announcements_shows_the_demo_announcements_now(db: None) -> None:
    with capture_events("announcements") as events:
        output = run("seed_announcements")
    assert "2 created, 2 in all" in output
    shown = Announcement.objects.shown_at(timezone.now())
    assert sorted(shown.values_list("severity", "text")) == sorted(DEMO_ANNOUNCEMENTS)
    assert [(e.event, e.json()["text"]) for e in events] == [
        ("announcementUpdate", t) for _, t in DEMO_ANNOUNCEMENTS
    ]


def test_seed_announcements_twice_creates_and_publishes_nothing_more(db: None) -> None:
    run("seed_announcements")
    Announcement.objects.filter(severity="warning").update(shown_until=timezone.now())  # ended meanwhile
    with capture_events("announcements") as events:
        output = run("seed_announcements")
    assert "0 created, 2 in all" in output
    assert Announcement.objects.count() == 2
    assert events == []


# The ticker script, in Chromium -----------------------------------------------------------------
# board.js against a stand-in for liveevents.js with its documented API (on, start, stop, status,
# lastEventId) whose handlers the test calls, as the stream would, with (data, messageEvent,
# stream); Playwright's clock stands in for the passing time.

FAKE_LIVEEVENTS_JS = """
export class LiveStream {
  constructor(url, options = {}) {
    this.url = String(url);
    this.lastEventId = options.lastEventId == null ? "" : String(options.lastEventId);
    this.status = "stopped";
    this.handlers = new Map();
    globalThis.__stream = this;
  }
  on(name, handler) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(handler);
    return () => {};
  }
  emit(name, data) {
    const message = new MessageEvent(name, { data: JSON.stringify(data) });
    for (const handler of this.handlers.get(name) ?? []) handler(data, message, "announcements");
  }
  start() {
    this.status = "live";
    for (const handler of this.handlers.get("status") ?? []) handler("live", "");
  }
  stop() {}
}
"""
SHOWN_ITEMS = """() => [...document.querySelectorAll('#announcement-list li')].map((li) => [
  Number(li.dataset.announcement), li.dataset.severity,
  li.querySelector('[data-field="severity"]').textContent,
  li.querySelector('[data-field="text"]').textContent,
])"""
MINUTE = datetime.timedelta(minutes=1)
SECOND = datetime.timedelta(seconds=1)


@contextmanager
def board_in_chromium(live_server: Any, start: datetime.datetime, **context: Any) -> Iterator[Any]:
    """The board page in Chromium, its clock paused at `start` (the test moves it on)."""
    from playwright.sync_api import sync_playwright

    from benchmarks.support.browser import REPORT_CSP_VIOLATIONS, launch_chromium

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(**context)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            violations: list[dict[str, Any]] = []
            page.expose_function("__reportCspViolation", lambda violation: violations.append(violation))
            page.add_init_script(path=REPORT_CSP_VIOLATIONS)
            page.route(
                "**/static/liveevents/liveevents.js",
                lambda route: route.fulfill(content_type="text/javascript", body=FAKE_LIVEEVENTS_JS),
            )
            page.clock.install(time=start - datetime.timedelta(seconds=1))
            page.clock.pause_at(start)
            page.goto(live_server.url)
            page.wait_for_selector("html[data-board-status=live]")
            yield page
            assert errors == []
            assert violations == []
        finally:
            browser.close()


def shown(page: Any) -> list[list[Any]]:
    return page.evaluate(SHOWN_ITEMS)  # type: ignore[no-any-return]


def emit(page: Any, event: str, data: dict[str, Any]) -> None:
    page.evaluate("([event, data]) => __stream.emit(event, data)", [event, data])


def update(
    pk: int, text: str, severity: str, start: datetime.datetime, until: datetime.datetime | None = None
) -> dict[str, Any]:
    return {
        "id": pk,
        "text": text,
        "severity": severity,
        "severity_label": severity.title(),
        "shown_from": iso(start),
        "shown_until": None if until is None else iso(until),
    }


@pytest.mark.browser
def test_ticker_inserts_updates_in_place_and_removes_announcements(
    live_server: Any, transactional_db: None
) -> None:
    now = timezone.now()
    warning = make("Belt 3 closed", severity="warning", shown_from=now - HOUR)
    with board_in_chromium(live_server, now) as page:
        assert shown(page) == [[warning.pk, "warning", "Warning", "Belt 3 closed"]]
        emit(page, "announcementUpdate", update(901, "<img src=x onerror=alert(1)>", "info", now - MINUTE))
        emit(page, "announcementUpdate", update(902, "Fog in Rome", "alert", now - MINUTE))
        emit(page, "announcementUpdate", update(903, "Earlier alert", "alert", now - 2 * MINUTE))
        assert shown(page) == [
            [903, "alert", "Alert", "Earlier alert"],
            [902, "alert", "Alert", "Fog in Rome"],
            [warning.pk, "warning", "Warning", "Belt 3 closed"],
            [901, "info", "Info", "<img src=x onerror=alert(1)>"],  # as text
        ]
        assert page.locator("#announcements img").count() == 0
        assert page.get_attribute("#announcements", "aria-live") == "polite"

        page.evaluate("document.querySelector('[data-announcement=\"901\"]').__marked = true")
        emit(page, "announcementUpdate", update(901, "Fog has lifted", "alert", now - 3 * MINUTE))
        assert shown(page)[0] == [901, "alert", "Alert", "Fog has lifted"]  # moved up: most severe, oldest
        assert page.evaluate("document.querySelector('[data-announcement=\"901\"]').__marked") is True

        emit(page, "announcementRemoval", {"id": 902})
        emit(page, "announcementRemoval", {"id": 999})  # unknown: nothing happens
        assert [item[0] for item in shown(page)] == [901, 903, warning.pk]
        for pk in (901, 903, warning.pk):
            emit(page, "announcementRemoval", {"id": pk})
        assert shown(page) == []
        assert page.get_attribute("#announcements", "data-empty") == ""


@pytest.mark.browser
def test_ticker_shows_each_announcement_from_its_start_until_its_end(
    live_server: Any, transactional_db: None
) -> None:
    now = timezone.now()
    ending = make("Ends at 10:40", shown_from=now - HOUR, shown_until=now + 10 * MINUTE + 40 * SECOND)
    starting = make("Starts at 5:30", severity="alert", shown_from=now + 5 * MINUTE + 30 * SECOND)
    with board_in_chromium(live_server, now) as page:
        assert [item[0] for item in shown(page)] == [ending.pk]
        emit(
            page,
            "announcementUpdate",
            update(901, "Live from 2:10 to 4:20", "warning", now + 130 * SECOND, now + 260 * SECOND),
        )
        emit(page, "announcementUpdate", update(902, "Removed before it starts", "info", now + 3 * MINUTE))
        emit(page, "announcementRemoval", {"id": 902})
        assert [item[0] for item in shown(page)] == [ending.pk]

        # At each start or end, not at the next minute's check: half a second after, it has happened.
        at = 0.0  # seconds after `now`, where the clock was paused

        def run_to(seconds: float) -> list[int]:
            nonlocal at
            page.clock.run_for(round((seconds - at) * 1000))
            at = seconds
            return [item[0] for item in shown(page)]

        assert run_to(129.5) == [ending.pk]
        assert run_to(130.5) == [901, ending.pk]
        assert run_to(259.5) == [901, ending.pk]
        assert run_to(260.5) == [ending.pk]  # 902 was removed: it never shows
        assert run_to(329.5) == [ending.pk]
        assert run_to(330.5) == [starting.pk, ending.pk]  # from the rendered <template>, in order
        assert run_to(639.5) == [starting.pk, ending.pk]
        assert run_to(640.5) == [starting.pk]

        # An update whose end has passed takes it off at once (the admin's "end now").
        emit(
            page,
            "announcementUpdate",
            update(starting.pk, "Starts at 5:30", "alert", now, now + MINUTE),
        )
        assert shown(page) == []
        assert page.get_attribute("#announcements", "data-empty") == ""


@pytest.mark.browser
@pytest.mark.parametrize(("motion", "animation"), [("no-preference", "arrived"), ("reduce", "none")])
def test_ticker_slides_a_new_announcement_in_unless_motion_is_reduced(
    live_server: Any, transactional_db: None, motion: str, animation: str
) -> None:
    now = timezone.now()
    with board_in_chromium(live_server, now, reduced_motion=motion) as page:
        assert page.get_attribute("#announcements", "data-empty") == ""
        emit(page, "announcementUpdate", update(901, "Belt 3 closed", "warning", now - MINUTE))
        assert page.get_attribute("#announcements", "data-empty") is None
        item = page.locator('[data-announcement="901"]')
        assert item.evaluate("(li) => getComputedStyle(li).animationName") == animation
