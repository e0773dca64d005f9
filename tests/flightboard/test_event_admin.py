"""The event log in the admin: a list page stays small whatever the size of the events."""

from __future__ import annotations

from typing import Any

from liveevents.publish import publish


def test_the_event_list_shows_a_bounded_excerpt_of_each_events_data(admin_client: Any) -> None:
    for n in range(10):
        publish("flights", "bulky", "x" * 200 + f"tail-{n}-" + "y" * 500_000)
    publish("flights", "small", '{"flight": "I768"}')
    response = admin_client.get("/admin/liveevents/event/")
    assert response.status_code == 200
    page = response.content.decode()
    assert len(page) < 100_000, f"a page of ten 500 kB events is {len(page):,} characters"
    assert "tail-" not in page
    assert page.count("x" * 200 + "…") == 10
    assert f"({200 + len('tail-0-') + 500_000:,} characters)" in page
    assert "{&quot;flight&quot;: &quot;I768&quot;}" in page


def test_an_events_own_page_still_shows_all_of_its_data(admin_client: Any) -> None:
    event = publish("flights", "bulky", "x" * 300 + "the-end")
    response = admin_client.get(f"/admin/liveevents/event/{event.pk}/change/")
    assert response.status_code == 200
    assert "the-end" in response.content.decode()
