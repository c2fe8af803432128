"""The gateway's media endpoints, in OpenAI's shapes (and Cohere's/Jina's for rerank):

- `POST /v1/images/generations`: `{model, prompt, n, size, response_format}` → `{created,
  data: [{b64_json} | {url}]}`. A provider that answers base64 (gpt-image, Stability) asked for
  `url` gets a `data:` URL; one that answers a URL asked for `b64_json` has it fetched (through
  the SSRF guard) and encoded.
- `POST /v1/audio/speech`: `{model, input, voice, response_format}` → the audio bytes, streamed
  as the provider sends them, with its content type.
- `POST /v1/audio/transcriptions`: a multipart upload (`file`, `model`, `language`,
  `response_format`), capped at GATEWAY_MAX_AUDIO_BYTES and checked to be audio → `json`
  (`{text}`), `text` (plain) or `verbose_json` (`{task, language, duration, text, segments}`).
- `POST /v1/rerank`: `{model, query, documents, top_n, return_documents}` → `{id, model,
  results: [{index, relevance_score, document?}], meta: {billed_units: {search_units}}}`.

`model` may be left out: the workspace's default model of the type serves (Settings → Default
models). Bad input is a 400 naming the field; every other failure is the error taxonomy's
answer, as for chat (`gateway.views.gateway_view`).
"""

from __future__ import annotations

import time
import uuid
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError

from invocation import api
from invocation.streaming import audio_stream
from upstream.calling import default_transport, run
from upstream.calls import ImagePart
from upstream.images import fetch_image
from workspaces.access import public_view

from .chat_fields import InvalidRequest
from .views import BodyTooLarge, _caller, _json_body, gateway_view

IMAGE_FIELDS = frozenset({"model", "prompt", "n", "size", "response_format"})
SPEECH_FIELDS = frozenset({"model", "input", "voice", "response_format", "speed"})
SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
TRANSCRIPTION_FIELDS = frozenset({"model", "file", "language", "response_format"})
RERANK_FIELDS = frozenset({"model", "query", "documents", "top_n", "return_documents"})
# What an audio upload may be (OpenAI's list): by extension and by declared type.
AUDIO_EXTENSIONS = frozenset(
    {"flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "oga", "opus", "wav", "webm"}
)
AUDIO_TYPES = frozenset({"video/mp4", "video/mpeg", "video/webm", "application/octet-stream"})
MULTIPART_OVERHEAD = 64 * 1024  # the form's other fields and boundaries, beyond the file


def _only(fields, known: frozenset[str]) -> None:
    """A field this endpoint does not map is refused, never dropped silently."""
    for name in fields:
        if name not in known:
            raise InvalidRequest(
                f"`{name}` is not supported by this endpoint of the gateway "
                f"(it takes {', '.join(sorted(known))}).",
                name,
            )


def _model_id(workspace, value: Any, model_type: str) -> str:
    """The model asked for, or the workspace's default of the type when none is named."""
    if value is None or value == "":
        return api.default_model(workspace, model_type)
    if not isinstance(value, str):
        raise InvalidRequest("`model` must be a model id such as openai/tts-1.", "model")
    return value.strip()


def _text(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"`{name}` is required: a non-empty string.", name)
    return value


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        raise InvalidRequest(f"`{name}` must be one of {', '.join(choices)}.", name)
    return value


# -- images ---------------------------------------------------------------------------------------


@public_view
@gateway_view(("POST",))
def images_generations(request: HttpRequest) -> JsonResponse:
    body = _json_body(request)
    _only(body, IMAGE_FIELDS)
    workspace = request.api_key.workspace
    model_id = _model_id(workspace, body.get("model"), "image")
    prompt = _text(body, "prompt")
    n = body.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= settings.GATEWAY_MAX_IMAGES:
        raise InvalidRequest(
            f"`n` must be a whole number from 1 to {settings.GATEWAY_MAX_IMAGES}.", "n"
        )
    size = body.get("size") or ""
    if not isinstance(size, str) or len(size) > 20:
        raise InvalidRequest("`size` must be WIDTHxHEIGHT, such as 1024x1024.", "size")
    wanted = _choice(body.get("response_format"), "response_format", api.IMAGE_FORMATS)
    served = api.generate_image(
        workspace,
        model_id,
        prompt,
        n=n,
        size=size,
        response_format=wanted or "",
        caller=_caller(request),
    )
    return JsonResponse(
        {
            "created": int(time.time()),
            "data": [_image_json(image, wanted) for image in served.value.images],
        }
    )


def _image_json(image: dict[str, str], wanted: str | None) -> dict[str, str]:
    if wanted == "url" and "b64_json" in image:
        return {"url": f"data:image/png;base64,{image['b64_json']}"}
    if wanted == "b64_json" and "url" in image:
        fetched = run(
            fetch_image(ImagePart(image["url"]), max_bytes=settings.GATEWAY_MAX_IMAGE_BYTES),
            default_transport,
        )
        return {"b64_json": fetched.data}
    return image


# -- speech ---------------------------------------------------------------------------------------


@public_view
@gateway_view(("POST",))
def audio_speech(request: HttpRequest) -> HttpResponse:
    body = _json_body(request)
    _only(body, SPEECH_FIELDS)
    workspace = request.api_key.workspace
    model_id = _model_id(workspace, body.get("model"), "tts")
    text = _text(body, "input")
    voice = body.get("voice") or ""
    if not isinstance(voice, str) or len(voice) > 200:
        raise InvalidRequest("`voice` must be a voice's name or id.", "voice")
    audio_format = _choice(body.get("response_format"), "response_format", SPEECH_FORMATS)
    speed = body.get("speed")
    if speed is not None and speed != 1:
        raise InvalidRequest("`speed` other than 1 is not supported by the gateway.", "speed")
    speech = api.speak(
        workspace,
        model_id,
        text,
        voice=voice,
        audio_format=audio_format or "mp3",
        caller=_caller(request),
    )
    return audio_stream(speech)


# -- transcriptions -------------------------------------------------------------------------------


@public_view
@gateway_view(("POST",))
def audio_transcriptions(request: HttpRequest) -> HttpResponse:
    if not request.content_type.startswith("multipart/form-data"):
        raise InvalidRequest("Send the audio as multipart/form-data, in a `file` field.", "file")
    cap = settings.GATEWAY_MAX_AUDIO_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > cap + MULTIPART_OVERHEAD:
        raise _audio_too_large()
    try:
        fields, files = request.POST, request.FILES
    except RequestDataTooBig:
        raise  # the form's text past DATA_UPLOAD_MAX_MEMORY_SIZE: gateway_view's 413
    except (MultiPartParserError, SuspiciousOperation):  # malformed, or too many parts
        raise InvalidRequest("The multipart body is malformed.", "file") from None
    _only([*fields, *files], TRANSCRIPTION_FIELDS)
    upload = files.get("file")
    if upload is None:
        raise InvalidRequest("`file` is required: the audio to transcribe.", "file")
    if upload.size > cap:
        raise _audio_too_large()
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    extension = PurePosixPath(upload.name or "").suffix.lower().lstrip(".")
    if not (content_type.startswith("audio/") or content_type in AUDIO_TYPES) or (
        extension and extension not in AUDIO_EXTENSIONS
    ):
        raise InvalidRequest(
            f"`file` must be audio ({', '.join(sorted(AUDIO_EXTENSIONS))}); "
            f"this one is {content_type or 'of no declared type'}.",
            "file",
        )
    workspace = request.api_key.workspace
    model_id = _model_id(workspace, fields.get("model"), "speech2text")
    language = fields.get("language") or ""
    if len(language) > 10:
        raise InvalidRequest("`language` must be an ISO-639-1 code, such as en.", "language")
    answer = _choice(
        fields.get("response_format") or None, "response_format", api.TRANSCRIPTION_FORMATS
    )
    served = api.transcribe(
        workspace,
        model_id,
        upload.read(),
        filename=PurePosixPath(upload.name or "audio").name or "audio",
        content_type=content_type or "application/octet-stream",
        language=language,
        caller=_caller(request),
    )
    result = served.value
    if answer == "text":
        return HttpResponse(result.text + "\n", content_type="text/plain; charset=utf-8")
    if answer == "verbose_json":
        return JsonResponse(
            {
                "task": "transcribe",
                "language": result.language or language,
                "duration": result.duration,
                "text": result.text,
                "segments": result.segments,
            }
        )
    return JsonResponse({"text": result.text})


def _audio_too_large() -> BodyTooLarge:
    return BodyTooLarge(
        f"`file` is larger than {settings.GATEWAY_MAX_AUDIO_BYTES // 2**20} MiB.", field="file"
    )


# -- rerank ---------------------------------------------------------------------------------------


@public_view
@gateway_view(("POST",))
def rerank(request: HttpRequest) -> JsonResponse:
    body = _json_body(request)
    _only(body, RERANK_FIELDS)
    workspace = request.api_key.workspace
    model_id = _model_id(workspace, body.get("model"), "rerank")
    query = _text(body, "query")
    documents = _documents(body.get("documents"))
    top_n = body.get("top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise InvalidRequest("`top_n` must be a positive whole number.", "top_n")
    return_documents = body.get("return_documents", False)
    if not isinstance(return_documents, bool):
        raise InvalidRequest("`return_documents` must be true or false.", "return_documents")
    served = api.rerank(workspace, model_id, query, documents, top_n=top_n, caller=_caller(request))
    results = []
    for ranked in served.value.results:
        item: dict[str, Any] = {"index": ranked.index, "relevance_score": ranked.relevance_score}
        if return_documents:
            item["document"] = {"text": documents[ranked.index]}
        results.append(item)
    searches = served.value.search_units
    return JsonResponse(
        {
            "id": f"rerank-{uuid.uuid4().hex}",
            "model": api.resolve(workspace, model_id, "rerank", request.api_key.environment_id).id,
            "results": results,
            "meta": {"billed_units": {"search_units": searches}},
        }
    )


def _documents(value: Any) -> list[str]:
    """Texts, or Cohere's/Jina's `{"text": ...}` objects."""
    if not isinstance(value, list) or not value:
        raise InvalidRequest("`documents` must be a non-empty list of texts.", "documents")
    if len(value) > settings.GATEWAY_MAX_RERANK_DOCUMENTS:
        raise InvalidRequest(
            f"At most {settings.GATEWAY_MAX_RERANK_DOCUMENTS} documents.", "documents"
        )
    texts = []
    for i, document in enumerate(value):
        if isinstance(document, dict) and isinstance(document.get("text"), str):
            document = document["text"]
        if not isinstance(document, str):
            raise InvalidRequest(
                f"`documents[{i}]` must be a text, or an object with a `text`.", "documents"
            )
        texts.append(document)
    return texts
