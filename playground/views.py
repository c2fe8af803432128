"""The Playground: any member picks an LLM with the model field, sends a prompt (and an optional
system prompt), and the answer streams in, followed by its tokens, latency and the name of the
credential that served it (never a secret).

`playground_run` answers the page's script (`static/js/app.js`, `Accept: text/event-stream`)
with server-sent events: `delta` ({"text"}) per piece of the answer, then `error` ({"title",
"message", "hint"}) if the provider failed mid-stream, then `done` (the figures). A failure
before the stream starts is a JSON error with a 4xx/5xx status. Without JavaScript the form
posts normally and the page comes back with the whole answer.

Calls go through `invocation.api.chat_stream` like the gateway's, so they are routed, metered and
recorded (under the member) the same way, in the environment chosen on the page (the default
one unless another is chosen): its pins serve the run, the model field shows the statuses there,
and the answer says which credential served it in which environment. Any member may run in any
environment of the workspace; the server takes only the workspace's own.

The rest of the chat surface, offered only for a model whose features have it (the section
re-renders through `playground` with HX-Target `playground-extras` when another model is
chosen; a crafted POST is refused all the same):

- `vision`: an image attached to the prompt (`uploads.py`: in memory only, capped by
  PLAYGROUND_MAX_IMAGE_BYTES, its type read from its bytes), sent as a data-URL image part.
- `tool-call`: one function (name, description, JSON-schema parameters). When the model calls
  it, the run ends with a `tool_calls` event carrying the calls panel (`#tool-calls`): each
  call's name and arguments, and a result to type for each; "Send results" posts the same form
  again with the rounds so far (`tool_rounds.py`) and the model answers with them.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from django import forms
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from invocation import api
from invocation.capacity import TooManyStreams
from invocation.streaming import event_stream
from providers.defaults import default_model_id
from providers.fields import ModelField, WorkspaceForm
from providers.model_options import first_active_option
from providers.selectors import ModelUnavailable
from upstream.calls import ImagePart, Message, TextPart, Tool
from upstream.errors import ProviderError
from workspaces.access import workspace_view
from workspaces.exceptions import error_answer
from workspaces.htmx import HtmxHttpRequest, render_page
from workspaces.models import Environment
from workspaces.services import default_environment

from .tool_rounds import CallCollector, Round, TranscriptError, parse_transcript, transcript_json
from .uploads import ACCEPT, ImageUploadHandler, data_url, image_type

logger = logging.getLogger(__name__)

TEMPLATE = "playground/playground.html"


class EnvironmentForm(WorkspaceForm):
    """A playground form run in an environment of the workspace: the choice comes first, and
    the model field judges its models there. `environment` (an id, from the page's query) is
    the unbound form's choice; a bound form reads it from its data. What names no environment
    of the workspace falls back to the default one, and is refused when posted. `refresh_url`
    makes the select re-render the model field (`#model-field`) through HTMX when it changes,
    keeping the model chosen in `form_id`."""

    environment = forms.ModelChoiceField(
        label="Environment",
        queryset=Environment.objects.none(),
        empty_label=None,
        required=False,  # not sent: the default one
        help_text="Its pinned credentials serve the run; what it does not pin follows the "
        "workspace's defaults.",
    )

    def __init__(
        self,
        *args,
        workspace,
        environment: str | None = None,
        refresh_url: str = "",
        form_id: str = "",
        **kwargs,
    ):
        default = default_environment(workspace)
        environments = list(Environment.objects.filter(workspace=workspace))
        data = args[0] if args else kwargs.get("data")
        wanted = data.get("environment") if data is not None else environment
        chosen = next((e for e in environments if str(e.pk) == str(wanted or "")), default)
        super().__init__(*args, workspace=workspace, environment=chosen, **kwargs)
        field_ = self.fields["environment"]
        field_.queryset = Environment.objects.filter(workspace=workspace)
        field_.initial = chosen.pk
        self.default_environment = default
        if len(environments) <= 1:
            field_.widget = forms.HiddenInput()
        elif refresh_url:
            field_.widget.attrs.update(
                {
                    "hx-get": refresh_url,
                    "hx-trigger": "change",
                    "hx-include": f"#{form_id} [name=model]",
                    "hx-target": "#model-field",
                    "hx-select": "#model-field",
                    "hx-swap": "outerHTML",
                }
            )

    @property
    def chosen_environment(self) -> Environment:
        """The environment a valid form runs in."""
        return self.cleaned_data.get("environment") or self.default_environment


class PlaygroundForm(EnvironmentForm):
    model = ModelField(model_type="llm", label="Model")
    system = forms.CharField(
        label="System prompt (optional)",
        required=False,
        max_length=20_000,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Instructions the model follows for the whole conversation.",
    )
    prompt = forms.CharField(
        label="Prompt",
        max_length=50_000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Ctrl+Enter runs it.",
    )
    # Shown for a model with `vision`:
    image = forms.FileField(
        label="Image (optional)",
        required=False,
        widget=forms.FileInput(attrs={"accept": ACCEPT}),
    )
    # Shown for a model with `tool-call`:
    tool_name = forms.CharField(
        label="Function name",
        required=False,
        max_length=64,
        help_text="Letters, digits, _ and -. Leave it empty to send no function.",
    )
    tool_description = forms.CharField(
        label="Function description",
        required=False,
        max_length=2_000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the function does: the model reads it to decide when to call it.",
    )
    tool_parameters = forms.CharField(
        label="Parameters (JSON schema)",
        required=False,
        max_length=20_000,
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "class": "font-monospace",
                "spellcheck": "false",
                "placeholder": '{"type": "object", "properties": {"city": {"type": "string"}}}',
            }
        ),
        help_text='A JSON schema whose "type" is "object". Empty: the function takes none.',
    )
    tool_choice = forms.ChoiceField(
        label="Tool choice",
        required=False,
        initial="auto",
        choices=[
            ("auto", "Auto: the model decides whether to call it"),
            ("required", "Required: the model must call it"),
        ],
    )

    def __init__(self, *args, image_too_large: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.image_too_large = image_too_large
        limit = _megabytes(settings.PLAYGROUND_MAX_IMAGE_BYTES)
        self.fields[
            "image"
        ].help_text = f"PNG, JPEG, WebP or GIF, up to {limit}. Sent with the prompt, never stored."

    def clean_image(self) -> str | None:
        """The image as a data URL, its type read from its bytes."""
        if self.image_too_large:
            raise forms.ValidationError(
                f"The image is larger than {_megabytes(settings.PLAYGROUND_MAX_IMAGE_BYTES)}: "
                "choose a smaller one.",
                code="too_large",
            )
        upload = self.cleaned_data.get("image")
        if not upload:
            return None
        upload.seek(0)
        media_type = image_type(upload.read(16))
        if media_type is None:
            raise forms.ValidationError(
                "This file is not a PNG, JPEG, WebP or GIF image.", code="not_an_image"
            )
        return data_url(upload, media_type)

    def clean_tool_name(self) -> str:
        name = self.cleaned_data["tool_name"].strip()
        if name and not TOOL_NAME.match(name):
            raise forms.ValidationError(
                "A function name has only letters, digits, _ and - (64 at most).", code="invalid"
            )
        return name

    def clean_tool_parameters(self) -> dict | None:
        text = self.cleaned_data["tool_parameters"].strip()
        if not text:
            return None
        try:
            schema = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"The parameters are not valid JSON: {error.msg} at line {error.lineno}, "
                f"column {error.colno}.",
                code="invalid_json",
            ) from None
        if not isinstance(schema, dict) or schema.get("type", "object") != "object":
            raise forms.ValidationError(
                'The parameters must be a JSON schema object whose "type" is "object", such '
                'as {"type": "object", "properties": {"city": {"type": "string"}}}.',
                code="not_an_object",
            )
        return schema

    def clean(self):
        data = super().clean()
        described = data.get("tool_description") or data.get("tool_parameters")
        if described and not data.get("tool_name") and "tool_name" not in self.errors:
            self.add_error(
                "tool_name", "Give the function a name, or clear its description and parameters."
            )
        return data

    @property
    def tool(self) -> Tool | None:
        data = self.cleaned_data
        if not data.get("tool_name"):
            return None
        return Tool(
            data["tool_name"], data.get("tool_description", ""), data.get("tool_parameters")
        )


TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
IMAGE_FIELD = "image"
EXTRA_FIELDS = ("tool_name", "tool_description", "tool_parameters", "tool_choice")


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.3g} MB"


@dataclass(frozen=True)
class Failure:
    """A refused or failed run as the page shows it: the taxonomy's message and its hint."""

    status: int
    title: str
    message: str
    hint: str = ""
    code: str = ""


# What the page says of a refused model (a provider error carries its own title and hint).
_REFUSALS: dict[type[Exception], tuple[str, str]] = {
    api.UnknownModel: (
        "Unknown model",
        "Choose a model from the list: it shows every model of this workspace.",
    ),
    api.AmbiguousModel: ("Ambiguous model", ""),
    ModelUnavailable: (
        "Model unavailable",
        "Choose an active model, or fix this one in Model Providers.",
    ),
    TooManyStreams: ("Too busy", "Too many answers are streaming right now: run it again shortly."),
}


def _failure(exc: Exception) -> Failure:
    """The status is the one every HTTP answer of this error has (`error_answer`); the code a
    provider error's own, which its usage record keeps too."""
    if isinstance(exc, ProviderError):
        return Failure(error_answer(exc).status, exc.title, exc.message, exc.hint, exc.code)
    for refused, (title, hint) in _REFUSALS.items():
        if isinstance(exc, refused):
            answer = error_answer(exc)
            return Failure(answer.status, title, exc.message, hint, answer.code or "")
    raise exc


@dataclass
class Run:
    """One run's answer and figures (filled as the stream goes)."""

    model: str
    credential: str
    started: float
    environment: str = ""
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int = 0
    latency_ms: int = 0
    first_token_ms: int | None = None
    error: Failure | None = None
    rounds: list[Round] = field(default_factory=list)  # the tool rounds sent with this run
    calls: CallCollector = field(default_factory=CallCollector)  # the ones it asks for

    @property
    def tokens(self) -> str:
        if self.prompt_tokens is None:
            return "Not reported by the provider"
        total = self.prompt_tokens + (self.completion_tokens or 0)
        reasoning = f", {self.reasoning_tokens} of them reasoning" if self.reasoning_tokens else ""
        return (
            f"{self.prompt_tokens} prompt + {self.completion_tokens} completion{reasoning} "
            f"({total} in all)"
        )

    @property
    def latency(self) -> str:
        if self.first_token_ms is None:
            return f"{self.latency_ms} ms"
        return f"{self.latency_ms} ms (first token after {self.first_token_ms} ms)"

    def mark_token(self) -> None:
        if self.first_token_ms is None:
            self.first_token_ms = _ms_since(self.started)

    def finish(self, streamed: api.StreamedChat) -> None:
        usage = streamed.stream.usage
        if usage is not None:
            self.prompt_tokens, self.completion_tokens = (
                usage.prompt_tokens,
                usage.completion_tokens,
            )
            self.reasoning_tokens = usage.reasoning_tokens
        self.latency_ms = _ms_since(self.started)

    def figures(self) -> dict:
        return {
            "model": self.model,
            "credential": self.credential,
            "environment": self.environment,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "tokens": self.tokens,
            "latency_ms": self.latency_ms,
            "first_token_ms": self.first_token_ms,
            "latency": self.latency,
        }


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _failure_mid_stream(exc: Exception) -> Failure:
    if isinstance(exc, ProviderError):
        return _failure(exc)
    logger.exception("playground: unexpected error while streaming")
    return Failure(
        500, "Unexpected error", "The answer stopped because of an error on our side.", "Run again."
    )


def _events(request: HtmxHttpRequest, streamed: api.StreamedChat, run: Run) -> Iterator[bytes]:
    """The run as server-sent events. Closing this generator (the client went away) closes the
    chunks, which closes the upstream stream; the figures are sent only when the answer ended,
    after the calls panel when the model called the function."""
    chunks = streamed.chunks()
    try:
        for chunk in chunks:
            run.calls.add(chunk)
            if chunk.delta:
                run.mark_token()
                run.text += chunk.delta
                yield _event("delta", {"text": chunk.delta})
    except Exception as exc:  # a provider fault mid-stream: shown after what arrived
        run.error = _failure_mid_stream(exc)
    finally:
        chunks.close()
    run.finish(streamed)
    if run.error is not None:
        yield _event("error", asdict(run.error))
    elif run.calls.calls:
        html = render_to_string(f"{TEMPLATE}#tool-calls", _calls_context(run), request=request)
        yield _event("tool_calls", {"count": len(run.calls.calls), "html": html})
    yield _event("done", run.figures())


def _collect(streamed: api.StreamedChat, run: Run) -> Run:
    """The whole answer at once, for a browser without JavaScript."""
    pieces = []
    chunks = streamed.chunks()
    try:
        for chunk in chunks:
            run.calls.add(chunk)
            if chunk.delta:
                run.mark_token()
                pieces.append(chunk.delta)
    except Exception as exc:
        run.error = _failure_mid_stream(exc)
    finally:
        chunks.close()
    run.text = "".join(pieces)
    run.finish(streamed)
    return run


def _calls_context(run: Run | None) -> dict:
    """The calls panel: the calls to answer, and the rounds so far with them (unanswered)."""
    if run is None or run.error is not None or not run.calls.calls:
        return {"pending_calls": ()}
    pending = Round(run.calls.calls, run.text)
    return {"pending_calls": pending.calls, "transcript": transcript_json([*run.rounds, pending])}


def _option(form: PlaygroundForm, value: str | None):
    option = form.fields["model"].option(value or "")
    return option if option is not None and option.usable else None


def _page(request: HtmxHttpRequest, form: PlaygroundForm, *, run=None, error=None, status=200):
    default = default_model_id(workspace=request.workspace, model_type="llm")
    failure = error or (run.error if run else None)
    value = form.data.get("model") if form.is_bound else form.initial.get("model")
    option = _option(form, value)
    features = option.features if option is not None else ()
    context = {
        "form": form,
        "run": run,
        "failure": failure,
        "default_model": default,
        "vision": "vision" in features,
        "tool_call": "tool-call" in features,
        "tool_open": any(form[name].value() for name in EXTRA_FIELDS[:3])
        or any(name in form.errors for name in EXTRA_FIELDS),
        **_calls_context(run),
    }
    return render_page(request, TEMPLATE, context, targets=("playground-extras",), status=status)


def _environment_choice(request: HtmxHttpRequest) -> dict:
    """The environment asked for in the query, and how its select refreshes the model field."""
    return {
        "environment": request.GET.get("environment"),
        "refresh_url": request.path if request.method == "GET" else reverse("playground"),
        "form_id": "playground-form",
    }


@require_GET
@workspace_view()
def playground(request: HtmxHttpRequest) -> HttpResponse:
    """The page starts on the default LLM, or the first active one when it has none; `?model=`
    chooses another (the page asks for its image and function section this way, HX-Target
    `playground-extras`, when the member picks a model, keeping the function typed so far)."""
    form = PlaygroundForm(workspace=request.workspace, **_environment_choice(request))
    field_ = form.fields["model"]
    option = _option(form, request.GET.get("model"))
    if option is None:
        option = field_.option(default_model_id(workspace=request.workspace, model_type="llm"))
    if option is None or not option.usable:
        option = first_active_option(field_.options)
    if option is not None:
        form.initial["model"] = option.id
    for name in EXTRA_FIELDS:
        if name in request.GET:
            form.initial[name] = request.GET[name][:20_000]
    return _page(request, form)


@require_POST
@workspace_view()
@csrf_exempt  # only so the upload handler can be set before the body is read: checked below
def playground_run(request: HtmxHttpRequest) -> HttpResponse:
    """The image is read by `ImageUploadHandler` alone (in memory, capped), which must be set
    before anything reads the body; CsrfViewMiddleware would read it first, so the CSRF check
    runs here instead (Django's documented pattern for upload handlers)."""
    handler = ImageUploadHandler(
        request, field_name=IMAGE_FIELD, max_bytes=settings.PLAYGROUND_MAX_IMAGE_BYTES
    )
    request.upload_handlers = [handler]
    return _run(request, handler)


@csrf_protect
def _run(request: HtmxHttpRequest, handler: ImageUploadHandler) -> HttpResponse:
    streaming = "text/event-stream" in request.headers.get("Accept", "")
    form = PlaygroundForm(
        request.POST,
        request.FILES,
        workspace=request.workspace,
        image_too_large=handler.too_large,
        **_environment_choice(request),
    )
    if not form.is_valid():
        failure = Failure(
            422,
            "Check the form",
            " ".join(str(e) for errors in form.errors.values() for e in errors),
            "",
            "invalid_form",
        )
        return _refused(request, form, failure, streaming, fields=form.errors.get_json_data())
    option = form.fields["model"].option(form.cleaned_data["model"])
    rounds: list[Round] = []
    if request.POST.get("action") == "send-results":
        try:
            rounds = parse_transcript(
                request.POST.get("transcript", ""), request.POST.getlist("tool_result")
            )
        except TranscriptError as error:
            return _refused(
                request, form, Failure(422, "Check the tool results", str(error)), streaming
            )
    refusal = _unsupported(option, form, rounds)
    if refusal is not None:
        return _refused(request, form, refusal, streaming)
    messages = []
    if form.cleaned_data["system"].strip():
        messages.append(Message("system", form.cleaned_data["system"]))
    image = form.cleaned_data["image"]
    prompt = form.cleaned_data["prompt"]
    messages.append(Message("user", (TextPart(prompt), ImagePart(image)) if image else prompt))
    for done_round in rounds:
        messages.extend(done_round.messages())
    options = {}
    if form.tool is not None:
        options["tools"] = (form.tool,)
        # Asked for on the first turn only: "required" again would ask for calls forever.
        if not rounds and form.cleaned_data["tool_choice"] == "required":
            options["tool_choice"] = "required"
    started = time.perf_counter()
    try:
        streamed = api.chat_stream(
            request.workspace,
            option.gateway_id,
            messages,
            caller=api.Caller(user_id=request.user.pk),
            environment=form.chosen_environment,
            **options,
        )
    except (
        api.UnknownModel,
        api.AmbiguousModel,
        ModelUnavailable,
        TooManyStreams,
        ProviderError,
    ) as exc:
        return _refused(request, form, _failure(exc), streaming)
    run = Run(
        model=option.id,
        credential=api.credential_label(streamed.credential),
        environment=form.chosen_environment.name,
        started=started,
        rounds=rounds,
    )
    if not streaming:
        return _page(request, form, run=_collect(streamed, run))
    return event_stream(streamed, _events(request, streamed, run))


def _unsupported(option, form: PlaygroundForm, rounds: list[Round]) -> Failure | None:
    """An image or a function for a model whose features lack them (the page offers neither
    then; this answers a crafted post before anything is sent)."""
    features = option.features
    if form.cleaned_data["image"] and "vision" not in features:
        return Failure(
            400,
            "Not supported",
            f"{option.id} cannot read images: the model has no vision feature.",
            "Choose a model marked vision, or run without the image.",
            "unsupported_parameter",
        )
    if (form.tool is not None or rounds) and "tool-call" not in features:
        return Failure(
            400,
            "Not supported",
            f"{option.id} cannot call functions: the model has no tool-call feature.",
            "Choose a model marked tool-call, or clear the function.",
            "unsupported_parameter",
        )
    return None


def _refused(
    request: HtmxHttpRequest, form, failure: Failure, streaming: bool, *, fields=None
) -> HttpResponse:
    """A run refused before any answer: JSON for the page's script, the page otherwise."""
    if streaming:
        body = {"error": asdict(failure)}
        if fields:
            body["fields"] = {
                name: [item["message"] for item in items] for name, items in fields.items()
            }
        return JsonResponse(body, status=failure.status)
    return _page(request, form, error=failure, status=failure.status)
