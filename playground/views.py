"""The Playground: any member picks an LLM with the model field, sends a prompt (and an optional
system prompt), and the answer streams in, followed by its tokens, latency and the name of the
credential that served it (never a secret).

`playground_run` answers the page's script (`static/js/app.js`, `Accept: text/event-stream`)
with server-sent events: `delta` ({"text"}) per piece of the answer, then `error` ({"title",
"message", "hint"}) if the provider failed mid-stream, then `done` (the figures). A failure
before the stream starts is a JSON error with a 4xx/5xx status. Without JavaScript the form
posts normally and the page comes back with the whole answer.

Calls go through `invocation.api.chat_stream` like the gateway's, so they are routed, metered and
recorded (under the member) the same way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from django import forms
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from invocation import api
from invocation.capacity import TooManyStreams
from invocation.streaming import event_stream
from providers.defaults import default_model_id
from providers.fields import ModelField, WorkspaceForm
from providers.model_options import first_active_option
from providers.selectors import ModelUnavailable
from upstream.calls import Message
from upstream.errors import ProviderError
from workspaces.access import workspace_view
from workspaces.exceptions import error_answer
from workspaces.htmx import HtmxHttpRequest

logger = logging.getLogger(__name__)

TEMPLATE = "playground/playground.html"


class PlaygroundForm(WorkspaceForm):
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
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int = 0
    latency_ms: int = 0
    first_token_ms: int | None = None
    error: Failure | None = None

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


def _events(streamed: api.StreamedChat, run: Run) -> Iterator[bytes]:
    """The run as server-sent events. Closing this generator (the client went away) closes the
    chunks, which closes the upstream stream; the figures are sent only when the answer ended."""
    chunks = streamed.chunks()
    try:
        for chunk in chunks:
            if chunk.delta:
                run.mark_token()
                yield _event("delta", {"text": chunk.delta})
    except Exception as exc:  # a provider fault mid-stream: shown after what arrived
        run.error = _failure_mid_stream(exc)
    finally:
        chunks.close()
    run.finish(streamed)
    if run.error is not None:
        yield _event("error", asdict(run.error))
    yield _event("done", run.figures())


def _collect(streamed: api.StreamedChat, run: Run) -> Run:
    """The whole answer at once, for a browser without JavaScript."""
    pieces = []
    chunks = streamed.chunks()
    try:
        for chunk in chunks:
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


def _page(request: HtmxHttpRequest, form: PlaygroundForm, *, run=None, error=None, status=200):
    default = default_model_id(workspace=request.workspace, model_type="llm")
    failure = error or (run.error if run else None)
    context = {"form": form, "run": run, "failure": failure, "default_model": default}
    return render(request, TEMPLATE, context, status=status)


@require_GET
@workspace_view()
def playground(request: HtmxHttpRequest) -> HttpResponse:
    """The page starts on the default LLM, or the first active one when it has none."""
    form = PlaygroundForm(workspace=request.workspace)
    field = form.fields["model"]
    option = field.option(default_model_id(workspace=request.workspace, model_type="llm"))
    if option is None or not option.usable:
        option = first_active_option(field.options)
    if option is not None:
        form.initial["model"] = option.id
    return _page(request, form)


@require_POST
@workspace_view()
def playground_run(request: HtmxHttpRequest) -> HttpResponse:
    streaming = "text/event-stream" in request.headers.get("Accept", "")
    form = PlaygroundForm(request.POST, workspace=request.workspace)
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
    messages = []
    if form.cleaned_data["system"].strip():
        messages.append(Message("system", form.cleaned_data["system"]))
    messages.append(Message("user", form.cleaned_data["prompt"]))
    started = time.perf_counter()
    try:
        streamed = api.chat_stream(
            request.workspace,
            option.gateway_id,
            messages,
            caller=api.Caller(user_id=request.user.pk),
        )
    except (
        api.UnknownModel,
        api.AmbiguousModel,
        ModelUnavailable,
        TooManyStreams,
        ProviderError,
    ) as exc:
        return _refused(request, form, _failure(exc), streaming)
    run = Run(model=option.id, credential=streamed.credential.name, started=started)
    if not streaming:
        return _page(request, form, run=_collect(streamed, run))
    return event_stream(streamed, _events(streamed, run))


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
