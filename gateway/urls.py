from django.urls import path, re_path

from . import views

urlpatterns = [
    path("models", views.models, name="gateway-models"),
    path("chat/completions", views.chat_completions, name="gateway-chat"),
    path("embeddings", views.embeddings, name="gateway-embeddings"),
    path("moderations", views.moderations, name="gateway-moderations"),
    re_path(r"^(?P<path>.*)$", views.not_found, name="gateway-not-found"),
]
