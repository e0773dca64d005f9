"""flightboard's /metrics/: the streams' figures for staff and the scraper's token, no one else."""

from __future__ import annotations

from typing import Any

from django.test import Client


def test_metrics_are_refused_to_anonymous_visitors(client: Client) -> None:
    response = client.get("/metrics/")
    assert response.status_code == 403
    assert b"liveevents_" not in response.content


def test_metrics_are_served_to_staff_and_to_the_token(
    admin_client: Client, client: Client, settings: Any
) -> None:
    response = admin_client.get("/metrics/")
    assert response.status_code == 200
    assert b"liveevents_events_delivered_total" in response.content
    settings.LIVEEVENTS = {**settings.LIVEEVENTS, "METRICS_TOKEN": "scrape-me"}
    assert client.get("/metrics/", headers={"Authorization": "Bearer scrape-me"}).status_code == 200
    assert client.get("/metrics/", headers={"Authorization": "Bearer wrong"}).status_code == 403
