"""A provider's credentials, a custom model's first credential, and validation progress."""

from django.urls import include, path

from . import views

# Under one provider's page: settings/model-providers/<provider_key>/...
provider_patterns = [
    path("models/new/", views.custom_model_create, name="custom-model-create"),
    path("credentials/", views.credential_list, name="credential-list"),
    path("credentials/new/", views.credential_create, name="credential-create"),
    path("credentials/check-all/", views.credential_check_all, name="credential-check-all"),
    path("credentials/<int:pk>/edit/", views.credential_update, name="credential-update"),
    path("credentials/<int:pk>/delete/", views.credential_delete, name="credential-delete"),
    path("credentials/<int:pk>/default/", views.credential_default, name="credential-default"),
    path("credentials/<int:pk>/check/", views.credential_check, name="credential-check"),
]

urlpatterns = [
    path("settings/validations/<uuid:pk>/", views.validation_detail, name="validation-detail"),
    path("settings/model-providers/<slug:provider_key>/", include(provider_patterns)),
]
