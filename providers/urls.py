from django.urls import path

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
    path(
        "<slug:provider_key>/models/<int:pk>/delete/",
        views.custom_model_delete,
        name="custom-model-delete",
    ),
]
