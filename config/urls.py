"""Top-level URLs: the settings pages, authentication, the Django admin and the health check."""

from django.contrib import admin
from django.urls import include, path

from . import health

admin.site.site_header = "Model Console administration"
admin.site.site_title = "Model Console admin"

urlpatterns = [
    path("", include("workspaces.urls")),
    path("settings/model-providers/", include("providers.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
