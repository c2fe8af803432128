from django.urls import path

from balancing import views as balancing_views
from credentials import views as credential_views

from . import views

urlpatterns = [
    path("", views.provider_list, name="provider-list"),
    path("<slug:provider_key>/", views.provider_detail, name="provider-detail"),
    path(
        "<slug:provider_key>/models/new/",
        credential_views.custom_model_create,
        name="custom-model-create",
    ),
    path("<slug:provider_key>/models/readd/", views.custom_model_readd, name="custom-model-readd"),
    path("<slug:provider_key>/models/toggle/", views.model_toggle, name="model-toggle"),
    path("<slug:provider_key>/models/refresh/", views.model_refresh, name="model-refresh"),
    path(
        "<slug:provider_key>/models/refresh/<uuid:pk>/",
        views.model_refresh_detail,
        name="model-refresh-detail",
    ),
    path(
        "<slug:provider_key>/models/credentials/",
        views.custom_credential_list,
        name="custom-credential-list",
    ),
    path(
        "<slug:provider_key>/models/<int:pk>/",
        views.custom_model_detail,
        name="custom-model-detail",
    ),
    path("<slug:provider_key>/load-balancing/", balancing_views.pool_detail, name="pool-detail"),
    path(
        "<slug:provider_key>/load-balancing/state.json",
        balancing_views.pool_state,
        name="pool-state",
    ),
    path(
        "<slug:provider_key>/load-balancing/switch/",
        balancing_views.pool_switch,
        name="pool-switch",
    ),
    path(
        "<slug:provider_key>/load-balancing/entries/new/",
        balancing_views.pool_entry_create,
        name="pool-entry-create",
    ),
    path(
        "<slug:provider_key>/load-balancing/entries/<int:pk>/",
        balancing_views.pool_entry_update,
        name="pool-entry-update",
    ),
    path(
        "<slug:provider_key>/load-balancing/entries/<int:pk>/delete/",
        balancing_views.pool_entry_delete,
        name="pool-entry-delete",
    ),
    path(
        "<slug:provider_key>/models/<int:pk>/delete/",
        views.custom_model_delete,
        name="custom-model-delete",
    ),
]
