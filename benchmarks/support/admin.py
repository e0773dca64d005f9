"""The Django admin over plain HTTP: sign in as the demo admin, then POST its forms."""

from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class AdminSession:
    """A signed-in admin user of one server. Forms are posted with the CSRF cookie's token
    (Django accepts it), so a save is one request, not a GET of the form and a POST."""

    def __init__(self, base_url: str, password: str, username: str = "admin") -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )
        self.username = username
        self.password = password

    def open(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        """GET (or POST `data`): status and body; redirects are answers, not followed."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def post(self, path: str, fields: dict[str, str]) -> None:
        """POST a form; it must answer with a redirect (saved)."""
        token = next((c.value for c in self.cookies if c.name == "csrftoken"), None)
        assert token, "no CSRF cookie: log in first"
        status, html = self.open(path, {**fields, "csrfmiddlewaretoken": token})
        if status != 302:
            raise RuntimeError(f"POST {path} answered {status}, not a redirect:\n{html[:3000]}")

    def login(self) -> None:
        status, html = self.open("/admin/login/?next=/admin/")
        if status != 200 or not re.search(r'name="csrfmiddlewaretoken"', html):
            raise RuntimeError(f"no login form: {status} {html[:500]}")
        self.post("/admin/login/?next=/admin/", {"username": self.username, "password": self.password})

    def change_flight(self, pk: int, *, origin: str, arrival: str, state: str) -> float:
        """POST the Flight change form; return time.time() when the (committed) answer came."""
        fields = {"origin": origin, "arrival": arrival, "state": state, "_save": "Save"}
        self.post(f"/admin/flightboard/flight/{pk}/change/", fields)
        return time.time()
