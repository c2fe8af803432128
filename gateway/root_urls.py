"""The URLs `gateway.wsgi.GatewayHandler` resolves: only the gateway's, under /v1/."""

from django.urls import include, path

urlpatterns = [path("v1/", include("gateway.urls"))]

# Anything that escapes the views (a middleware fault) still answers in OpenAI's shape.
handler500 = "gateway.views.server_error"
