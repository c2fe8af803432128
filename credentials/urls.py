from django.urls import path

from . import views

urlpatterns = [
    path("", views.credential_list, name="credential-list"),
    path("new/", views.credential_create, name="credential-create"),
    path("check-all/", views.credential_check_all, name="credential-check-all"),
    path("<int:pk>/edit/", views.credential_update, name="credential-update"),
    path("<int:pk>/delete/", views.credential_delete, name="credential-delete"),
    path("<int:pk>/default/", views.credential_default, name="credential-default"),
    path("<int:pk>/check/", views.credential_check, name="credential-check"),
]
