"""Top-level URLs: the settings pages, authentication, the Django admin and the health check."""

from django.contrib import admin
from django.urls import include, path

from credentials import views as credential_views
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
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
