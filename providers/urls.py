"""The Model Providers pages (a provider's models, custom models, switches, model refresh),
Default models, and the model field's search."""

from django.urls import include, path

from . import default_views, field_views, views

# Under one provider's page: settings/model-providers/<provider_key>/...
provider_patterns = [
    path("", views.provider_detail, name="provider-detail"),
    path("models/readd/", views.custom_model_readd, name="custom-model-readd"),
    path("models/toggle/", views.model_toggle, name="model-toggle"),
    path("models/refresh/", views.model_refresh, name="model-refresh"),
    path("models/refresh/<uuid:pk>/", views.model_refresh_detail, name="model-refresh-detail"),
    path("models/credentials/", views.custom_credential_list, name="custom-credential-list"),
    path("models/<int:pk>/", views.custom_model_detail, name="custom-model-detail"),
    path("models/<int:pk>/delete/", views.custom_model_delete, name="custom-model-delete"),
]

urlpatterns = [
    path("settings/model-providers/", views.provider_list, name="provider-list"),
    path("settings/default-models/", default_views.default_models, name="default-models"),
    path("settings/model-field/search/", field_views.model_field_search, name="model-field-search"),
    path("settings/model-providers/<slug:provider_key>/", include(provider_patterns)),
]
