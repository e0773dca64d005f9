from django.apps import apps
from django.contrib import admin
from django.urls import include, path

urlpatterns = [path("events/", include("liveevents.urls"))]
if apps.is_installed("django.contrib.admin"):
    urlpatterns.append(path("admin/", admin.site.urls))
