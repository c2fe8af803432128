"""A model's load-balancing pool, under its provider's page."""

from django.urls import include, path

from . import views

# Under one provider's page: settings/model-providers/<provider_key>/...
provider_patterns = [
    path("load-balancing/", views.pool_detail, name="pool-detail"),
    path("load-balancing/state.json", views.pool_state, name="pool-state"),
    path("load-balancing/switch/", views.pool_switch, name="pool-switch"),
    path("load-balancing/entries/new/", views.pool_entry_create, name="pool-entry-create"),
    path("load-balancing/entries/<int:pk>/", views.pool_entry_update, name="pool-entry-update"),
    path(
        "load-balancing/entries/<int:pk>/delete/",
        views.pool_entry_delete,
        name="pool-entry-delete",
    ),
]

urlpatterns = [
    path("settings/model-providers/<slug:provider_key>/", include(provider_patterns)),
]
