from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter

from flightboard import views
from liveevents.views import metrics_view


class TerminalCode:
    """A terminal's code as the model allows it: 1 to 4 capital letters or digits."""

    regex = "[A-Z0-9]{1,4}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class FlightCode(TerminalCode):
    """A flight's code, as far as it can name its stream (flight.<code>)."""

    regex = "[A-Za-z0-9_-]+"


register_converter(TerminalCode, "terminal")
register_converter(FlightCode, "flight")

urlpatterns = [
    path("", views.board, name="board"),
    path("htmx/", views.htmx_board, name="htmx_board"),
    path("terminals/<terminal:code>/", views.terminal_board, name="terminal"),
    path("flights/<flight:code>/", views.flight_page, name="flight"),
    path("flights/<flight:code>/follow/", views.follow, name="follow"),
    path("flights/<flight:code>/unfollow/", views.unfollow, name="unfollow"),
    path("my/", views.my_flights, name="my_flights"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("events/", include("liveevents.urls")),
    # Staff users and LIVEEVENTS["METRICS_TOKEN"] only (liveevents.views.metrics_view).
    path("metrics/", metrics_view, name="metrics"),
]
