"""The usage page and its CSV export."""

from django.urls import path

from . import views

urlpatterns = [
    path("settings/usage/", views.usage_page, name="usage"),
    path("settings/usage.csv", views.usage_csv, name="usage-csv"),
]
