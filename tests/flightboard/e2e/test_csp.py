"""The Content-Security-Policy in Chromium: every page runs under it without a violation.

Every browser test checks that none of its pages reported a violation (conftest.new_context);
these open each kind of page on purpose, the admin's included, and check that a violation would
be seen.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.flightboard.e2e.daphne_server import DaphneServer
from tests.flightboard.e2e.test_board import admin_page, html

pytestmark = pytest.mark.browser

POLICY = "default-src 'self'"


def visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert POLICY in (response.header_value("content-security-policy") or ""), url


@pytest.mark.parametrize("path", ["/", "/terminals/2/", "/flights/I768/"])
def test_live_pages_run_without_a_violation(
    server: DaphneServer, new_context: Callable[..., Any], path: str
) -> None:
    page = new_context().new_page()
    visit(page, server.url + path)
    expect(html(page)).to_have_attribute("data-board-status", "live")
    expect(page.locator("#flights tbody tr[data-flight]").first).to_be_visible()


def test_signing_in_and_my_flights_run_without_a_violation(
    server: DaphneServer, new_context: Callable[..., Any]
) -> None:
    page = new_context().new_page()
    visit(page, server.url + "/accounts/login/?next=/my/")
    page.fill("#id_username", "grace")
    page.fill("#id_password", "not her password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[role=alert]")).to_be_visible()
    page.fill("#id_password", server.demo_password("grace"))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + "/my/")
    expect(html(page)).to_have_attribute("data-board-status", "live")
    page.get_by_role("link", name="All arrivals").click()
    expect(html(page)).to_have_attribute("data-board-status", "live")
    page.get_by_role("button", name="Follow I768").click()  # a form posted under form-action 'self'
    expect(page.get_by_role("button", name="Unfollow I768")).to_be_visible()


def test_the_admin_runs_without_a_violation(server: DaphneServer, new_context: Callable[..., Any]) -> None:
    admin = admin_page(new_context, server)  # the login form, then the index
    for path in (
        "/admin/",
        "/admin/flightboard/flight/",
        "/admin/flightboard/flight/add/",
        "/admin/flightboard/announcement/",
        "/admin/liveevents/event/",
        "/admin/auth/user/add/",
        "/admin/flightboard/announcement/add/",
    ):
        visit(admin, server.url + path)
    # The date and time widgets and their calendar: scripts that build elements and set styles.
    admin.locator(".datetimeshortcuts a", has_text="Today").first.click()
    admin.locator(".datetimeshortcuts [id^=calendarlink]").first.click()  # a link, a button on Django 6
    expect(admin.locator(".calendarbox").first).to_be_visible()
    admin.goto(server.url + "/admin/flightboard/flight/?q=I768")
    admin.locator("#result_list th.field-flight a", has_text=re.compile("^I768$")).click()
    expect(admin.locator(".field-flight .readonly")).to_have_text("I768")


def test_a_violation_would_fail_the_test(
    server: DaphneServer, new_context: Callable[..., Any], csp_violations: list[dict[str, Any]]
) -> None:
    page = new_context().new_page()
    visit(page, server.url + "/")
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__inline = true";
            document.head.append(script);
            document.body.setAttribute("style", "color: red");
        }"""
    )
    deadline = time.monotonic() + 5
    while len(csp_violations) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)  # reports arrive while Playwright is waited on
    assert page.evaluate("typeof window.__inline") == "undefined"
    assert sorted(v["directive"] for v in csp_violations) == ["script-src-elem", "style-src-attr"]
    assert all(v["page"] == server.url + "/" and v["blocked"] == "inline" for v in csp_violations)
    csp_violations.clear()  # seen: this test's end has nothing more to report
