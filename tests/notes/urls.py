from django.apps import apps
from django.contrib import admin
from django.urls import include, path

from liveevents.views import metrics_view

urlpatterns = [path("events/", include("liveevents.urls")), path("metrics/", metrics_view)]
if apps.is_installed("django.contrib.admin"):
    urlpatterns.append(path("admin/", admin.site.urls))
