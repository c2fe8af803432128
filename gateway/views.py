"""The OpenAI-compatible gateway: `/v1/models`, `/v1/chat/completions` (whole or streamed as
server-sent events), `/v1/embeddings` and `/v1/moderations`, authenticated by workspace API keys
(the media endpoints, images, audio and rerank, are in `gateway/media.py`).

Requests and answers have OpenAI's shapes whatever provider serves the model, and so do errors
(`{"error": {"message", "type", "param", "code"}}`): 400 bad request (naming the field), 401 bad
key, 403 disabled or unusable model, 404 unknown model, 413 body too large, 429 rate limited
everywhere (with Retry-After), 502 upstream error, 504 timeout. Each error class declares its
status, type and code (`workspaces.exceptions.error_answer`). Nothing under /v1/ answers with
an HTML page, not even an unexpected fault.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from api_keys.services import api_key_authenticate
from invocation import api
from invocation.streaming import event_stream
from upstream.calls import ChatChunk, ChatResult, ToolCall
from upstream.errors import ProviderError
from workspaces.access import public_view
from workspaces.exceptions import ApplicationError, error_answer

from . import chat_fields
from .chat_fields import InvalidRequest

logger = logging.getLogger(__name__)


class BodyTooLarge(ApplicationError):
    """A body over its cap (413): GATEWAY_MAX_BODY_BYTES for text, GATEWAY_MAX_IMAGE_BYTES more
    for the images of a chat."""

    http_status = 413
    error_code = "request_too_large"


def error_response(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
) -> JsonResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    response = JsonResponse(body, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def _error_answer_response(error: ApplicationError | ProviderError) -> JsonResponse:
    """An error in OpenAI's words, as its class declares them (`error_answer`); a provider's
    message never holds a secret (adapters scrub provider texts) and never says which key
    failed, only the credential's name."""
    answer = error_answer(error)
    return error_response(
        answer.status,
        answer.message,
        type_=answer.type,
        code=answer.code,
        param=answer.param,
        retry_after=answer.retry_after,
    )


def gateway_view(methods: tuple[str, ...]):
    """Authenticates the API key and turns every failure into an OpenAI-shaped JSON error."""

    def decorator(view: Callable[..., HttpResponse]):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                response = error_response(405, f"Use {' or '.join(methods)} on this endpoint.")
                response["Allow"] = ", ".join(methods)
                return response
            try:
                scheme, _, token = request.headers.get("Authorization", "").partition(" ")
                api_key = (
                    api_key_authenticate(token.strip()) if scheme.lower() == "bearer" else None
                )
                if api_key is None:
                    return error_response(
                        401,
                        "Incorrect or revoked API key. Create one in Settings → API keys and "
                        "send it as `Authorization: Bearer <key>`.",
                        code="invalid_api_key",
                    )
                request.api_key = api_key
                return view(request, *args, **kwargs)
            except RequestDataTooBig:  # Django's own cap, DATA_UPLOAD_MAX_MEMORY_SIZE
                limit = settings.GATEWAY_MAX_BODY_BYTES // 1024
                return error_response(413, f"The body is larger than {limit} KiB.")
            except (ApplicationError, ProviderError) as exc:
                return _error_answer_response(exc)
            except DatabaseError:
                logger.exception("gateway: database unavailable on %s", request.path)
                return error_response(
                    503,
                    "The service cannot reach its database. Retry shortly.",
                    type_="api_error",
                    code="service_unavailable",
                    retry_after=5,
                )
            except Exception:
                logger.exception("gateway: unexpected error on %s", request.path)
                return error_response(500, "Internal error.", type_="api_error")

        wrapped.access_policy = "public"  # type: ignore[attr-defined] - API keys, not sessions
        return csrf_exempt(wrapped)

    return decorator


def _json_body(request: HttpRequest, *, images: bool = False) -> dict[str, Any]:
    """The body as a JSON object. Past GATEWAY_MAX_BODY_BYTES it is refused, unless `images`
    (a chat) and what is over the text cap is image URLs, up to GATEWAY_MAX_IMAGE_BYTES more.
    The body is read from the stream, not `request.body`, which Django caps at
    DATA_UPLOAD_MAX_MEMORY_SIZE whatever the endpoint."""
    text_cap = settings.GATEWAY_MAX_BODY_BYTES
    cap = text_cap + (settings.GATEWAY_MAX_IMAGE_BYTES if images else 0)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > cap:
        raise _too_large(images)
    raw = request.read(cap + 1)
    if len(raw) > cap:
        raise _too_large(images)
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The body is not valid JSON.") from None
    except RecursionError:  # the parser recurses per level: [[[[...]]]] a thousand deep
        raise InvalidRequest("The body is nested too deeply to be a request.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    if len(raw) > text_cap and len(raw) - chat_fields.image_url_length(body) > text_cap:
        raise _too_large(False)
    return body


def _too_large(images: bool) -> BodyTooLarge:
    text = settings.GATEWAY_MAX_BODY_BYTES // 1024
    if not images:
        return BodyTooLarge(f"The body is larger than {text} KiB.")
    return BodyTooLarge(
        f"The body is larger than {text} KiB of text and "
        f"{settings.GATEWAY_MAX_IMAGE_BYTES // 1024} KiB of images."
    )


def _caller(request: HttpRequest) -> api.Caller:
    return api.Caller(api_key=request.api_key, user_id=request.api_key.created_by_id)


def _model(body: dict) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("`model` is required: a model id such as openai/gpt-4o.", "model")
    return model.strip()


def _include_usage(body: dict) -> bool:
    """`stream_options.include_usage`: whether a stream ends with a usage chunk."""
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise InvalidRequest(
            '`stream_options` must be an object, such as {"include_usage": true}.',
            "stream_options",
        )
    include = options.get("include_usage")
    if include is not None and not isinstance(include, bool):
        raise InvalidRequest(
            "`include_usage` must be true or false.", "stream_options.include_usage"
        )
    return bool(include)


def _usage_json(usage) -> dict[str, Any] | None:
    """The usage in OpenAI's shape; null when unknown (the provider's counts were unreadable).
    Reasoning tokens, counted among the completion tokens, are told apart when reported."""
    if usage is None:
        return None
    answer: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.reasoning_tokens:
        answer["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return answer


def _tool_call_json(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def _message_json(result: ChatResult) -> dict[str, Any]:
    """The answer's `message`: content null when the model only called tools, as OpenAI's."""
    message: dict[str, Any] = {
        **result.extra,
        "role": "assistant",
        "content": result.content or (None if result.tool_calls else ""),
    }
    if result.tool_calls:
        message["tool_calls"] = [_tool_call_json(call) for call in result.tool_calls]
    return message


def _delta_json(chunk: ChatChunk) -> dict[str, Any]:
    """A chunk's `delta`: its text, and its tool calls as OpenAI streams them (index, id and
    name first, then argument fragments)."""
    delta: dict[str, Any] = dict(chunk.extra)
    if chunk.delta:
        delta["content"] = chunk.delta
    if chunk.tool_calls:
        calls = []
        for call in chunk.tool_calls:
            item: dict[str, Any] = {"index": call.index}
            function: dict[str, Any] = {"arguments": call.arguments}
            if call.id is not None:
                item["id"], item["type"] = call.id, "function"
            if call.name is not None:
                function["name"] = call.name
            item["function"] = function
            calls.append(item)
        delta["tool_calls"] = calls
    return delta


# -- endpoints -----------------------------------------------------------------------------------


@public_view
@gateway_view(("GET",))
def models(request: HttpRequest) -> JsonResponse:
    workspace = request.api_key.workspace
    data = [
        {
            "id": handle.id,
            "object": "model",
            "created": 0,
            "owned_by": handle.provider.key,
            # An extra field the SDKs ignore: what the model can do (null: not known).
            "features": None if handle.features is None else list(handle.features),
        }
        for handle in api.usable_models(workspace, environment=request.api_key.environment_id)
    ]
    return JsonResponse({"object": "list", "data": data})


@public_view
@gateway_view(("POST",))
def chat_completions(request: HttpRequest) -> HttpResponse:
    body = _json_body(request, images=True)
    model_id, messages = _model(body), chat_fields.messages(body)
    options = chat_fields.chat_options(body)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("`stream` must be true or false.", "stream")
    include_usage = _include_usage(body)
    workspace = request.api_key.workspace
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if stream:
        streamed = api.chat_stream(
            workspace, model_id, messages, caller=_caller(request), **options
        )
        return event_stream(streamed, _sse(streamed, completion_id, created, include_usage))
    served = api.chat(workspace, model_id, messages, caller=_caller(request), **options)
    result = served.value
    model = api.resolve(workspace, model_id, "llm", request.api_key.environment_id).id
    return JsonResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": _message_json(result),
                    "logprobs": result.logprobs,
                    "finish_reason": result.finish_reason
                    or ("tool_calls" if result.tool_calls else "stop"),
                }
            ],
            "usage": _usage_json(result.usage),
        }
    )


def _sse(
    streamed: api.StreamedChat, completion_id: str, created: int, include_usage: bool
) -> Iterator[bytes]:
    """The stream as OpenAI sends it; a provider fault mid-stream ends it with an error event.
    When the client goes away, the server closes this generator, which closes the upstream."""

    def event(choices: list, **extra) -> bytes:
        chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": streamed.handle.id,
            "choices": choices,
            **extra,
        }
        return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"

    chunks = streamed.chunks()
    try:
        yield event(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )
        finish = None
        for chunk in chunks:
            if chunk.delta or chunk.tool_calls or chunk.extra or chunk.logprobs:
                choice = {"index": 0, "delta": _delta_json(chunk), "finish_reason": None}
                if chunk.logprobs is not None:
                    choice["logprobs"] = chunk.logprobs
                yield event([choice])
            if chunk.finish_reason:
                finish = chunk.finish_reason
        yield event([{"index": 0, "delta": {}, "finish_reason": finish or "stop"}])
        if include_usage and streamed.stream.usage is not None:
            yield event([], usage=_usage_json(streamed.stream.usage))
        yield b"data: [DONE]\n\n"
    except ProviderError as error:
        body = {"error": {"message": error.message, "type": "api_error", "code": error.code}}
        yield b"data: " + json.dumps(body).encode() + b"\n\n"
    except Exception:  # a fault of ours mid-stream still ends the stream with an error event
        logger.exception("gateway: unexpected error while streaming")
        body = {"error": {"message": "Internal error.", "type": "api_error", "code": None}}
        yield b"data: " + json.dumps(body).encode() + b"\n\n"
    finally:
        chunks.close()


def _inputs(body: dict, *, name: str = "input") -> list[str]:
    value = body.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        if len(value) > settings.GATEWAY_MAX_INPUTS:
            raise InvalidRequest(f"At most {settings.GATEWAY_MAX_INPUTS} inputs.", name)
        return value
    raise InvalidRequest(f"`{name}` must be a string or a non-empty list of strings.", name)


@public_view
@gateway_view(("POST",))
def embeddings(request: HttpRequest) -> JsonResponse:
    body = _json_body(request)
    model_id, inputs = _model(body), _inputs(body)
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise InvalidRequest("`encoding_format` must be float or base64.", "encoding_format")
    workspace = request.api_key.workspace
    served = api.embed(workspace, model_id, inputs, caller=_caller(request))
    result = served.value

    def encoded(vector: list[float]):
        if encoding == "float":
            return vector
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()

    return JsonResponse(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": encoded(vector)}
                for i, vector in enumerate(result.vectors)
            ],
            "model": api.resolve(
                workspace, model_id, "text-embedding", request.api_key.environment_id
            ).id,
            "usage": None  # unknown: the provider's counts were unreadable
            if result.usage is None
            else {
                "prompt_tokens": result.usage.prompt_tokens,
                "total_tokens": result.usage.total_tokens,
            },
        }
    )


@public_view
@gateway_view(("POST",))
def moderations(request: HttpRequest) -> JsonResponse:
    body = _json_body(request)
    inputs = _inputs(body)
    model_id = body.get("model") or "openai/omni-moderation-latest"
    if not isinstance(model_id, str):
        raise InvalidRequest("`model` must be a model id.", "model")
    workspace = request.api_key.workspace
    served = api.moderate(workspace, model_id, inputs, caller=_caller(request))
    return JsonResponse(
        {
            "id": f"modr-{uuid.uuid4().hex}",
            "model": api.resolve(
                workspace, model_id, "moderation", request.api_key.environment_id
            ).id,
            "results": served.value.results,
        }
    )


def server_error(request: HttpRequest) -> JsonResponse:
    """The lean /v1/ handler's last resort (gateway/root_urls.py): JSON, never a page."""
    return error_response(500, "Internal error.", type_="api_error")


@public_view
@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    return error_response(404, f"Unknown endpoint /v1/{path}.", code="unknown_url")
