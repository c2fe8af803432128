"""The OpenAI-compatible gateway: `/v1/models`, `/v1/chat/completions` (whole or streamed as
server-sent events), `/v1/embeddings` and `/v1/moderations`, authenticated by workspace API keys.

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
from upstream.calls import ROLES, Message
from upstream.errors import ProviderError
from workspaces.access import public_view
from workspaces.exceptions import ApplicationError, error_answer

logger = logging.getLogger(__name__)


class InvalidRequest(ApplicationError):
    """A malformed request (400); `param` names the field at fault."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message, field=param)


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
            except RequestDataTooBig:
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


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > settings.GATEWAY_MAX_BODY_BYTES:
        raise RequestDataTooBig
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The body is not valid JSON.") from None
    except RecursionError:  # the parser recurses per level: [[[[...]]]] a thousand deep
        raise InvalidRequest("The body is nested too deeply to be a request.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


def _caller(request: HttpRequest) -> api.Caller:
    return api.Caller(api_key=request.api_key, user_id=request.api_key.created_by_id)


def _model(body: dict) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("`model` is required: a model id such as openai/gpt-4o.", "model")
    return model.strip()


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRequest(f"`{name}` must be a number from {low:g} to {high:g}.", name)
    return float(value)


def _content(value: Any, index: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: text only
        texts = []
        for part in value:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise InvalidRequest(
                    "Only text content parts are supported.", f"messages[{index}].content"
                )
            text = part.get("text", "")
            if not isinstance(text, str):
                raise InvalidRequest(
                    "A text part's `text` must be a string.", f"messages[{index}].content"
                )
            texts.append(text)
        return "".join(texts)
    raise InvalidRequest("`content` must be a string.", f"messages[{index}].content")


def _messages(body: dict) -> list[Message]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("`messages` must be a non-empty list.", "messages")
    messages = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InvalidRequest("Each message must be an object.", f"messages[{index}]")
        role = item.get("role")
        role = "system" if role == "developer" else role
        if role not in ROLES:
            raise InvalidRequest(
                "`role` must be system, user or assistant.", f"messages[{index}].role"
            )
        messages.append(Message(role, _content(item.get("content"), index)))
    if all(m.role == "system" for m in messages):
        raise InvalidRequest("Add at least one user message.", "messages")
    return messages


def _chat_options(body: dict) -> dict[str, Any]:
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise InvalidRequest("`max_tokens` must be a positive integer.", "max_tokens")
    stop = body.get("stop")
    if stop is None:
        stop = ()
    elif isinstance(stop, str):
        stop = (stop,)
    elif isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        stop = tuple(stop)
    else:
        raise InvalidRequest("`stop` must be a string or a list of up to 4 strings.", "stop")
    if body.get("n", 1) != 1:
        raise InvalidRequest("Only `n: 1` is supported.", "n")
    return {
        "temperature": _number(body, "temperature", 0, 2),
        "top_p": _number(body, "top_p", 0, 1),
        "max_tokens": max_tokens,
        "stop": stop,
    }


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


def _usage_json(usage) -> dict[str, int] | None:
    """The usage in OpenAI's shape; null when unknown (the provider's counts were unreadable)."""
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


# -- endpoints -----------------------------------------------------------------------------------


@public_view
@gateway_view(("GET",))
def models(request: HttpRequest) -> JsonResponse:
    workspace = request.api_key.workspace
    data = [
        {"id": handle.id, "object": "model", "created": 0, "owned_by": handle.provider.key}
        for handle in api.usable_models(workspace)
    ]
    return JsonResponse({"object": "list", "data": data})


@public_view
@gateway_view(("POST",))
def chat_completions(request: HttpRequest) -> HttpResponse:
    body = _json_body(request)
    model_id, messages, options = _model(body), _messages(body), _chat_options(body)
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
    model = api.resolve(workspace, model_id, "llm").id
    return JsonResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.content},
                    "finish_reason": result.finish_reason or "stop",
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
            if chunk.delta:
                yield event(
                    [{"index": 0, "delta": {"content": chunk.delta}, "finish_reason": None}]
                )
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
            "model": api.resolve(workspace, model_id, "text-embedding").id,
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
            "model": api.resolve(workspace, model_id, "moderation").id,
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
