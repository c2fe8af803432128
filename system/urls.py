"""A workspace's choice between its own credentials and the system's, per provider."""

from django.urls import path

from . import views

urlpatterns = [
    path(
        "settings/model-providers/<slug:provider_key>/preference/",
        views.provider_preference,
        name="provider-preference",
    ),
]
