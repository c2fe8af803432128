"""Top-level URLs: the settings pages, authentication, the Django admin, the health check and
the OpenAI-compatible gateway (/v1/)."""

from django.contrib import admin
from django.urls import include, path

from credentials import views as credential_views
from gateway import key_views, playground_views, usage_views
from providers import default_views, field_views
from system import views as system_views
from workspaces import views as audit_views

from . import health

admin.site.site_header = "Model Console administration"
admin.site.site_title = "Model Console admin"

urlpatterns = [
    path("", include("workspaces.urls")),
    path("settings/model-providers/", include("providers.urls")),
    path(
        "settings/model-providers/<slug:provider_key>/credentials/",
        include("credentials.urls"),
    ),
    path(
        "settings/validations/<uuid:pk>/",
        credential_views.validation_detail,
        name="validation-detail",
    ),
    path("settings/audit-log/", audit_views.audit_log, name="audit-log"),
    path("settings/api-keys/", key_views.api_key_list, name="api-key-list"),
    path("settings/api-keys/new/", key_views.api_key_create, name="api-key-create"),
    path("settings/api-keys/<int:pk>/revoke/", key_views.api_key_revoke, name="api-key-revoke"),
    path("settings/usage/", usage_views.usage_page, name="usage"),
    path("settings/usage.csv", usage_views.usage_csv, name="usage-csv"),
    path(
        "settings/model-providers/<slug:provider_key>/preference/",
        system_views.provider_preference,
        name="provider-preference",
    ),
    path("settings/default-models/", default_views.default_models, name="default-models"),
    path("settings/model-field/search/", field_views.model_field_search, name="model-field-search"),
    path("playground/", playground_views.playground, name="playground"),
    path("playground/run/", playground_views.playground_run, name="playground-run"),
    path("healthz", health.healthz, name="healthz"),
    path("v1/", include("gateway.urls")),
    path("admin/", admin.site.urls),
]
