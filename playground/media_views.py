"""The Playground's media tabs: generate an image, hear a voice, transcribe an upload, rank
documents. Any member may use them (the decorator checks the role on the server, as for the
chat tab); each run goes through `invocation.api` like the gateway's calls, so it is routed,
metered and recorded under the member, in the environment chosen on the form (as on the chat
tab: `EnvironmentForm`), and its result says which credential served it there.

The pages work without JavaScript: a POST renders the page again with the result (the image
and the audio inline as data URLs, never a provider's secret or URL with a key in it).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field

from django import forms
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from invocation import api
from invocation.capacity import TooManyStreams
from providers.defaults import default_model_id
from providers.fields import ModelField
from providers.model_options import first_active_option
from providers.selectors import ModelUnavailable
from upstream.errors import ProviderError
from workspaces.access import workspace_view
from workspaces.htmx import HtmxHttpRequest

from .views import EnvironmentForm, Failure, _failure

TEMPLATE = "playground/media.html"


class ImageForm(EnvironmentForm):
    model = ModelField(model_type="image", label="Model")
    prompt = forms.CharField(
        label="Prompt", max_length=4000, widget=forms.Textarea(attrs={"rows": 4})
    )
    size = forms.ChoiceField(
        label="Size",
        choices=[
            ("1024x1024", "Square (1024×1024)"),
            ("1536x1024", "Landscape"),
            ("1024x1536", "Portrait"),
        ],
        initial="1024x1024",
    )


class SpeechForm(EnvironmentForm):
    model = ModelField(model_type="tts", label="Model")
    text = forms.CharField(
        label="Text to speak",
        max_length=4096,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    voice = forms.CharField(
        label="Voice (optional)",
        required=False,
        max_length=100,
        help_text="OpenAI: alloy, nova, echo… ElevenLabs: a voice id. Empty: the default voice.",
    )


class TranscriptionForm(EnvironmentForm):
    model = ModelField(model_type="speech2text", label="Model")
    file = forms.FileField(
        label="Audio file",
        help_text="mp3, wav, m4a, ogg, webm or flac, up to 25 MiB.",
        widget=forms.ClearableFileInput(attrs={"accept": "audio/*"}),
    )
    language = forms.CharField(
        label="Language (optional)", required=False, max_length=10, help_text="e.g. en, fr"
    )


class RerankForm(EnvironmentForm):
    model = ModelField(model_type="rerank", label="Model")
    query = forms.CharField(label="Query", max_length=2000)
    documents = forms.CharField(
        label="Documents, one a line",
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )


@dataclass
class Result:
    """What a run shows: its figures, and the output of its kind."""

    model: str
    credential: str
    environment: str
    latency_ms: int
    images: list[str] = field(default_factory=list)  # data: or https URLs
    audio: str = ""  # a data: URL
    text: str = ""
    ranked: list[tuple[int, float, str]] = field(default_factory=list)  # rank, score, text


@dataclass(frozen=True)
class Tab:
    key: str
    url_name: str
    label: str
    icon: str
    model_type: str
    form: type[EnvironmentForm]
    intro: str


TABS = {
    tab.key: tab
    for tab in (
        Tab(
            "image",
            "playground-image",
            "Image",
            "photo",
            "image",
            ImageForm,
            "Describe a picture and generate it with one of this workspace's image models.",
        ),
        Tab(
            "speech",
            "playground-speech",
            "Speech",
            "volume",
            "tts",
            SpeechForm,
            "Type a text and hear it spoken by a text-to-speech model.",
        ),
        Tab(
            "transcription",
            "playground-transcription",
            "Transcription",
            "microphone",
            "speech2text",
            TranscriptionForm,
            "Upload a recording and read its transcript.",
        ),
        Tab(
            "rerank",
            "playground-rerank",
            "Rerank",
            "list-details",
            "rerank",
            RerankForm,
            "Rank documents by how well they answer a query.",
        ),
    )
}


def _form(request: HtmxHttpRequest, tab: Tab, *args) -> EnvironmentForm:
    return tab.form(
        *args,
        workspace=request.workspace,
        environment=request.GET.get("environment"),
        refresh_url=reverse(tab.url_name),
        form_id="media-form",
    )


def _initial_form(request: HtmxHttpRequest, tab: Tab) -> EnvironmentForm:
    """The form on the default model of the type, or the first active one (in the environment
    asked for, else the default one)."""
    form = _form(request, tab)
    model_field = form.fields["model"]
    option = model_field.option(
        default_model_id(workspace=request.workspace, model_type=tab.model_type)
    )
    if option is None or not option.usable:
        option = first_active_option(model_field.options)
    if option is not None:
        form.initial["model"] = option.id
    return form


def _page(request, tab: Tab, form, *, result=None, failure=None, status=200) -> HttpResponse:
    context = {
        "tab": tab,
        "tabs": TABS.values(),
        "form": form,
        "result": result,
        "failure": failure,
    }
    return render(request, TEMPLATE, context, status=status)


def _run(request: HtmxHttpRequest, tab: Tab, form, data: dict) -> Result:
    caller = api.Caller(user_id=request.user.pk, environment=form.chosen_environment)
    option = form.fields["model"].option(data["model"])
    model_id = option.gateway_id
    started = time.perf_counter()
    workspace = request.workspace

    def result(served_credential, **output) -> Result:
        return Result(
            model=option.id,
            credential=api.credential_label(served_credential),
            environment=form.chosen_environment.name,
            latency_ms=round((time.perf_counter() - started) * 1000),
            **output,
        )

    if tab.key == "image":
        served = api.generate_image(
            workspace,
            model_id,
            data["prompt"],
            size=data["size"],
            response_format="b64_json",
            caller=caller,
        )
        images = [
            f"data:image/png;base64,{i['b64_json']}" if "b64_json" in i else i["url"]
            for i in served.value.images
        ]
        return result(served.credential, images=images)
    if tab.key == "speech":
        speech = api.speak(workspace, model_id, data["text"], voice=data["voice"], caller=caller)
        audio = speech.read()
        encoded = base64.b64encode(audio).decode()
        return result(speech.credential, audio=f"data:{speech.content_type};base64,{encoded}")
    if tab.key == "transcription":
        upload = data["file"]
        served = api.transcribe(
            workspace,
            model_id,
            upload.read(),
            filename=upload.name,
            content_type=upload.content_type or "application/octet-stream",
            language=data["language"],
            caller=caller,
        )
        return result(served.credential, text=served.value.text)
    documents = [line.strip() for line in data["documents"].splitlines() if line.strip()]
    served = api.rerank(workspace, model_id, data["query"], documents, caller=caller)
    ranked = [
        (rank, r.relevance_score, documents[r.index])
        for rank, r in enumerate(served.value.results, start=1)
    ]
    return result(served.credential, ranked=ranked)


def _media_view(key: str):
    tab = TABS[key]

    @require_http_methods(["GET", "POST"])
    @workspace_view()
    def view(request: HtmxHttpRequest) -> HttpResponse:
        if request.method == "GET":
            return _page(request, tab, _initial_form(request, tab))
        form = _form(request, tab, request.POST, request.FILES)
        if not form.is_valid():
            return _page(request, tab, form, status=422)
        upload = form.cleaned_data.get("file")
        if upload is not None and upload.size > settings.GATEWAY_MAX_AUDIO_BYTES:
            form.add_error(
                "file", f"The file is larger than {settings.GATEWAY_MAX_AUDIO_BYTES // 2**20} MiB."
            )
            return _page(request, tab, form, status=422)
        try:
            result = _run(request, tab, form, form.cleaned_data)
        except api.InvalidInput as exc:
            failure = Failure(400, "Check the form", exc.message, "", "invalid_request")
            return _page(request, tab, form, failure=failure, status=400)
        except (
            api.UnknownModel,
            api.AmbiguousModel,
            ModelUnavailable,
            TooManyStreams,
            ProviderError,
        ) as exc:
            failure = _failure(exc)
            return _page(request, tab, form, failure=failure, status=failure.status)
        return _page(request, tab, form, result=result)

    view.__name__ = view.__qualname__ = f"playground_{key}"
    return view


playground_image = _media_view("image")
playground_speech = _media_view("speech")
playground_transcription = _media_view("transcription")
playground_rerank = _media_view("rerank")
