"""Top-level URLs: every app's own `urls.py` (each holds its full paths), authentication and
the settings pages among them, the Django admin, the health check and the OpenAI-compatible
gateway under /v1/."""

from django.contrib import admin
from django.urls import include, path

from . import health

admin.site.site_header = "Model Console administration"
admin.site.site_title = "Model Console admin"

urlpatterns = [
    path("", include("workspaces.urls")),
    path("", include("providers.urls")),
    path("", include("balancing.urls")),
    path("", include("api_keys.urls")),
    path("", include("invocation.urls")),
    path("", include("playground.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("v1/", include("gateway.urls")),
    path("admin/", admin.site.urls),
]
