from django.urls import path

from . import views

urlpatterns = [
    path("settings/api-keys/", views.api_key_list, name="api-key-list"),
    path("settings/api-keys/new/", views.api_key_create, name="api-key-create"),
    path("settings/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
]
