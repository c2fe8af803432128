from django.urls import path

from . import media_views, views

urlpatterns = [
    path("playground/", views.playground, name="playground"),
    path("playground/run/", views.playground_run, name="playground-run"),
    path("playground/image/", media_views.playground_image, name="playground-image"),
    path("playground/speech/", media_views.playground_speech, name="playground-speech"),
    path(
        "playground/transcription/",
        media_views.playground_transcription,
        name="playground-transcription",
    ),
    path("playground/rerank/", media_views.playground_rerank, name="playground-rerank"),
]
