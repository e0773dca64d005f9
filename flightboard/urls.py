from django.contrib import admin
from django.urls import include, path

from flightboard.views import board

urlpatterns = [
    path("", board, name="board"),
    path("admin/", admin.site.urls),
    path("events/", include("liveevents.urls")),
]
