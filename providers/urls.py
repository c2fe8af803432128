"""The Model Providers pages (a provider's models, its credentials and their validation, custom
models, switches, model refresh, the system-or-own preference), Default models, Environments
and the model field's search. Pool pages under a provider's page are balancing's own."""

from django.urls import include, path

from . import (
    credential_views,
    default_views,
    environment_views,
    field_views,
    preference_views,
    views,
)

# Under one provider's page: settings/model-providers/<provider_key>/...
provider_patterns = [
    path("models/new/", credential_views.custom_model_create, name="custom-model-create"),
    path("credentials/", credential_views.credential_list, name="credential-list"),
    path("credentials/new/", credential_views.credential_create, name="credential-create"),
    path(
        "credentials/check-all/", credential_views.credential_check_all, name="credential-check-all"
    ),
    path(
        "credentials/<int:pk>/edit/", credential_views.credential_update, name="credential-update"
    ),
    path(
        "credentials/<int:pk>/delete/", credential_views.credential_delete, name="credential-delete"
    ),
    path(
        "credentials/<int:pk>/default/",
        credential_views.credential_default,
        name="credential-default",
    ),
    path("credentials/<int:pk>/check/", credential_views.credential_check, name="credential-check"),
    path("preference/", preference_views.provider_preference, name="provider-preference"),
    path("", views.provider_detail, name="provider-detail"),
    path("models/readd/", views.custom_model_readd, name="custom-model-readd"),
    path("models/toggle/", views.model_toggle, name="model-toggle"),
    path("models/refresh/", views.model_refresh, name="model-refresh"),
    path("models/refresh/<uuid:pk>/", views.model_refresh_detail, name="model-refresh-detail"),
    path("models/credentials/", views.custom_credential_list, name="custom-credential-list"),
    path("models/<int:pk>/", views.custom_model_detail, name="custom-model-detail"),
    path("models/<int:pk>/edit/", views.custom_model_update, name="custom-model-update"),
    path("models/<int:pk>/delete/", views.custom_model_delete, name="custom-model-delete"),
]

urlpatterns = [
    path(
        "settings/validations/<uuid:pk>/",
        credential_views.validation_detail,
        name="validation-detail",
    ),
    path("settings/model-providers/", views.provider_list, name="provider-list"),
    path("settings/default-models/", default_views.default_models, name="default-models"),
    path("settings/environments/", environment_views.environment_list, name="environment-list"),
    path(
        "settings/environments/new/",
        environment_views.environment_create,
        name="environment-create",
    ),
    path(
        "settings/environments/<int:pk>/edit/",
        environment_views.environment_update,
        name="environment-update",
    ),
    path(
        "settings/environments/<int:pk>/keys/",
        environment_views.environment_keys,
        name="environment-keys",
    ),
    path(
        "settings/environments/<int:pk>/delete/",
        environment_views.environment_delete,
        name="environment-delete",
    ),
    path(
        "settings/environments/<int:pk>/pin/",
        environment_views.environment_pin,
        name="environment-pin",
    ),
    path(
        "settings/environments/pins/new/",
        environment_views.environment_pin_create,
        name="environment-pin-create",
    ),
    path("settings/model-field/search/", field_views.model_field_search, name="model-field-search"),
    path("settings/model-providers/<slug:provider_key>/", include(provider_patterns)),
]
