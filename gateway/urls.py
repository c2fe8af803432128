from django.urls import path, re_path

from . import media, views

urlpatterns = [
    path("models", views.models, name="gateway-models"),
    path("chat/completions", views.chat_completions, name="gateway-chat"),
    path("embeddings", views.embeddings, name="gateway-embeddings"),
    path("moderations", views.moderations, name="gateway-moderations"),
    path("images/generations", media.images_generations, name="gateway-images"),
    path("audio/speech", media.audio_speech, name="gateway-speech"),
    path("audio/transcriptions", media.audio_transcriptions, name="gateway-transcriptions"),
    path("rerank", media.rerank, name="gateway-rerank"),
    re_path(r"^(?P<path>.*)$", views.not_found, name="gateway-not-found"),
]
