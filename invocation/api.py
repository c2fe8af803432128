"""The Python API: call a workspace's models by id, whatever provider serves them.

    from invocation import api
    served = api.chat(workspace, "openai/gpt-4o-mini", [Message("user", "Hello")])
    served.value.content, served.value.usage, served.credential.name

`resolve()` turns a model id ("provider/model", or a bare name when only one provider of the
workspace offers it) into a usable model, refusing unknown, disabled and credential-less ones.
Each call then goes through `invocation.failover.invoke` (the default credential, or the pool
with cooldowns and failover) and leaves one `UsageRecord` (tokens, latency, outcome, credential).
The gateway (`gateway/views.py`) and the playground are thin layers over these functions.

Media calls go the same way: `generate_image`, `speak` (streamed), `transcribe` and `rerank`;
their usage records count images, characters, seconds of audio and searches, which plan
quotas charge by the rule in `invocation/metering.py`.
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from django.conf import settings

from api_keys.models import ApiKey
from balancing.services import ModelRef
from credentials.models import Credential, CustomModel
from providers.defaults import default_model_id
from providers.selectors import ModelNotFound, ModelUnavailable, model_for_use, provider_models
from upstream.calling import get_adapter
from upstream.calls import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    ChatStream,
    EmbeddingResult,
    ImageResult,
    Message,
    ModerationResult,
    RerankResult,
    TranscriptionResult,
    Usage,
)
from upstream.errors import ProviderError, QuotaExceeded
from upstream.registry import catalog, get_provider
from upstream.schema import ProviderSpec
from workspaces.config_cache import ConfigCache, ConfigKind
from workspaces.exceptions import ApplicationError
from workspaces.models import Environment, Workspace

from . import failover
from .capacity import StreamSlot, stream_slot
from .failover import Served
from .metering import billing_units, quota_reserve
from .models import UsageRecord
from .usage import record_usage

logger = logging.getLogger(__name__)

T = TypeVar("T")


CUSTOM_SUFFIX = "#custom"  # keeps a custom model apart from a predefined one of its name


class UnknownModel(ApplicationError):
    """No model of that id and type in the workspace."""

    field = "model"
    http_status = 404
    error_code = "model_not_found"


class AmbiguousModel(ApplicationError):
    """A bare model name several providers offer."""

    field = "model"
    error_code = "model_ambiguous"


@dataclass(frozen=True)
class ModelHandle:
    """A usable model of a workspace."""

    provider: ProviderSpec
    name: str
    type: str
    custom: bool
    source: str = "custom"  # "system": the operator's credentials, charged to the quota
    custom_features: tuple[str, ...] = ()  # a custom model's own (CustomModel.features)

    @property
    def id(self) -> str:
        clashes = self.custom and any(
            m.name == self.name and m.type == self.type for m in self.provider.models
        )
        return f"{self.provider.key}/{self.name}{CUSTOM_SUFFIX if clashes else ''}"

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.provider.key, self.name, self.type, self.custom)

    @property
    def features(self) -> tuple[str, ...] | None:
        """What the model can do: the catalog's `features`, or a custom model's own; None
        when unknown, and then only what the provider can honour is checked."""
        if self.custom:
            return self.custom_features
        for model in self.provider.models:
            if model.name == self.name and model.type == self.type:
                return model.features
        return None


# -- resolving model ids -------------------------------------------------------------------------

MODEL_ID_MAX_LENGTH = 256  # longer ids are refused before any lookup (and never echoed)


class ModelIdTooLong(UnknownModel):
    """A model id over MODEL_ID_MAX_LENGTH characters (a bad request; callers that handle
    UnknownModel handle it too)."""

    http_status = 400
    error_code = "model_id_too_long"


_resolved: ConfigCache[ModelHandle | tuple[type[ApplicationError], str]] = ConfigCache(
    "resolved models",
    depends_on=(
        ConfigKind.CREDENTIALS,
        ConfigKind.POOLS,
        ConfigKind.MODELS,
        ConfigKind.PREFERENCES,
        ConfigKind.SYSTEM_OFFERS,
    ),
    seconds_setting="LOAD_BALANCING_CONFIG_CACHE_SECONDS",
    size_setting="GATEWAY_MODEL_CACHE_SIZE",
)
"""This process's resolved model ids (least recently used dropped first). It holds usable
models and refusals of models the workspace has (disabled, no credential, ambiguous), never
unknown ids: a client choosing names could otherwise fill it. A refusal is kept as its class
and message and raised afresh, since re-raising one stored exception would chain every
caller's frames onto its traceback."""


def resolve(
    workspace: Workspace, model_id: str, model_type: str, environment: int | None = None
) -> ModelHandle:
    """The usable model `model_id` names in `environment` (an id; None: the default one), or
    UnknownModel, AmbiguousModel or ModelUnavailable (disabled, no usable credential there)
    with the reason; ModelIdTooLong past the cap. Reused for the configuration cache time,
    like routes: a model may be usable in one environment (its pin serves it) and not in
    another, so the environment is part of the key."""
    model_id = (model_id or "").strip()
    if len(model_id) > MODEL_ID_MAX_LENGTH:
        raise ModelIdTooLong(
            f"`model` is longer than {MODEL_ID_MAX_LENGTH} characters: no model has such an id.",
            field="model",
        )

    def load():
        try:
            return _resolve(
                workspace, model_id, model_type, _environment_id(workspace, environment)
            )
        except UnknownModel:
            raise  # a miss is not kept: any client can send endless new names
        except (AmbiguousModel, ModelUnavailable) as exc:
            return (type(exc), exc.message)

    key = (workspace.pk, model_id, model_type, environment)
    outcome = _resolved.get_or_load(key, load, workspace_id=workspace.pk)
    if isinstance(outcome, tuple):
        refusal, message = outcome
        raise refusal(message)
    return outcome


def _environment_id(workspace: Workspace, environment: int | None) -> int | None:
    """The environment whose pins count: the one given, else the workspace's default (None
    when it has none yet, and so no pins)."""
    if environment is not None:
        return environment
    return (
        Environment.objects.filter(workspace=workspace, is_default=True)
        .values_list("pk", flat=True)
        .first()
    )


def _resolve(
    workspace: Workspace, model_id: str, model_type: str, environment: int | None = None
) -> ModelHandle:
    if not model_id:
        raise UnknownModel("Name a model, as provider/model.")
    provider_key, slash, name = model_id.partition("/")
    provider = get_provider(provider_key) if slash else None
    if provider is not None and name.endswith(CUSTOM_SUFFIX):
        # A custom model sharing a predefined model's name and type: "openai/gpt-4o#custom".
        return _usable(
            workspace, provider, name.removesuffix(CUSTOM_SUFFIX), model_type, True, environment
        )
    if provider is not None:
        return _usable(workspace, provider, name, model_type, environment=environment)
    # A bare name (or one whose first segment is not a provider: custom names hold slashes).
    candidates = [
        (p, model_id)
        for p in catalog()
        if any(m.name == model_id and m.type == model_type for m in p.models)
    ]
    custom_providers = CustomModel.objects.filter(
        workspace=workspace, name=model_id, type=model_type
    ).values_list("provider", flat=True)
    candidates += [(get_provider(key), model_id) for key in custom_providers if get_provider(key)]
    usable, refusals = [], []
    for candidate_provider, name in dict.fromkeys(candidates):
        try:
            usable.append(
                _usable(workspace, candidate_provider, name, model_type, environment=environment)
            )
        except ModelUnavailable as exc:
            refusals.append(exc)
    if len({h.provider.key for h in usable}) > 1:
        ids = ", ".join(sorted({h.id for h in usable}))
        raise AmbiguousModel(f"{model_id} is offered by several providers: use one of {ids}.")
    if usable:
        return usable[0]
    if refusals:
        raise refusals[0]
    raise UnknownModel(f"No {model_type} model named {model_id} in this workspace.")


def _usable(
    workspace: Workspace,
    provider: ProviderSpec,
    name: str,
    model_type: str,
    custom: bool | None = None,
    environment: int | None = None,
):
    try:
        row = model_for_use(
            workspace=workspace,
            provider=provider,
            name=name,
            model_type=model_type,
            custom=custom,
            environment=environment,
        )
    except ModelNotFound:
        raise UnknownModel(
            f"No {model_type} model {provider.key}/{name} in this workspace."
        ) from None
    return _handle(provider, row)


def _handle(provider: ProviderSpec, row) -> ModelHandle:
    custom = row.custom
    return ModelHandle(
        provider,
        row.name,
        row.type,
        custom is not None,
        row.source,
        tuple(custom.features or ()) if custom is not None else (),
    )


def usable_models(
    workspace: Workspace,
    model_type: str | None = None,
    *,
    environment: Environment | int | None = None,
) -> list[ModelHandle]:
    """Every model the workspace can call now in `environment` (None: the default one), for
    `GET /v1/models` and pickers."""
    if isinstance(environment, Environment):
        if environment.workspace_id != workspace.pk:
            raise InvalidInput("That environment belongs to another workspace.")
        environment = environment.pk
    environment = _environment_id(workspace, environment)
    handles = []
    for provider in catalog():
        if model_type and model_type not in provider.model_types:
            continue
        models = provider_models(workspace=workspace, provider=provider, environment=environment)
        for row in [*models.predefined, *models.custom]:
            if row.status.usable and (not model_type or row.type == model_type):
                handles.append(_handle(provider, row))
    return handles


# -- calls ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who is calling, for the usage record, and in which environment: the one given, else
    the API key's, else (None) the workspace's default environment."""

    api_key: ApiKey | None = None
    user_id: int | None = None
    environment: Environment | None = None

    @property
    def in_environment(self) -> Environment | None:
        if self.environment is not None:
            return self.environment
        return self.api_key.environment if self.api_key is not None else None

    @property
    def environment_id(self) -> int | None:
        environment = self.in_environment
        return environment.pk if environment is not None else None

    def within(self, environment: Environment | None, workspace: Workspace) -> Caller:
        """This caller in `environment` of `workspace` (None: unchanged)."""
        if environment is None:
            return self
        if environment.workspace_id != workspace.pk:
            raise InvalidInput("That environment belongs to another workspace.")
        return replace(self, environment=environment)


def _record(
    workspace: Workspace,
    handle: ModelHandle,
    *,
    endpoint: str,
    caller: Caller,
    started: float,
    credential: Credential | None = None,
    usage: Usage | None = None,
    outcome: str = "success",
    stream: bool = False,
    unit: str = "",
    units: int = 0,
) -> None:
    usage = usage or Usage()
    try:
        record = UsageRecord(
            workspace_id=workspace.pk,
            api_key_id=caller.api_key.pk if caller.api_key else None,
            user_id=caller.user_id,
            environment_id=caller.environment_id,
            environment_name=caller.in_environment.name if caller.in_environment else "",
            provider=handle.provider.key,
            model=handle.name,
            model_type=handle.type,
            credential_id=credential.pk if isinstance(credential, Credential) else None,
            credential_name=credential_label(credential),
            source=handle.source,
            endpoint=endpoint,
            stream=stream,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            unit=unit,
            units=units if outcome == "success" else 0,
            latency_ms=round((time.perf_counter() - started) * 1000),
            outcome=outcome,
        )
        record_usage(record)
    except Exception:  # metering must never turn a served call into an error
        logger.exception("could not record usage of %s", handle.id)


def credential_label(credential) -> str:
    """What served a call, in words: a workspace credential's name, or "System: <name>" for
    the operator's (usage records and the playground say it so)."""
    if credential is None:
        return ""
    if isinstance(credential, Credential):
        return credential.name
    return f"System: {credential.name}"


class _Metered:
    """A call's source and its quota charge: system calls reserve before the call (or fall
    back to the workspace's own credentials when the quota is used up and it has some), are
    settled with the tokens after it, and refunded when it fails."""

    def __init__(
        self,
        workspace: Workspace,
        handle: ModelHandle,
        billed: int = 1,
        environment: int | None = None,
    ):
        self.source = handle.source
        self.reservation = None
        if handle.source != "system":
            return
        try:
            self.reservation = quota_reserve(
                workspace, handle.provider.key, handle.name, billed=billed
            )
        except QuotaExceeded:
            route = failover.route_for(workspace=workspace, ref=handle.ref, environment=environment)
            if route.default is None and route.pool_key is None:
                raise
            self.source = "custom"  # preferred system, no quota left: the workspace's own

    def handle(self, handle: ModelHandle) -> ModelHandle:
        if self.source == handle.source:
            return handle
        return replace(handle, source=self.source)

    def settle(self, usage: Usage | None, billed: int | None = None) -> None:
        if self.reservation is not None:
            self.reservation.settle(usage, billed=billed)

    def refund(self) -> None:
        if self.reservation is not None:
            self.reservation.refund()


def _invoke_metered(
    workspace: Workspace,
    handle: ModelHandle,
    *,
    call: Callable[[Credential], T],
    failed: Callable[[ModelHandle, ProviderError], None],
    billed: int = 1,
    caller: Caller,
) -> tuple[ModelHandle, _Metered, Served[T]]:
    """Charge the quota (system models), invoke, refund on failure; `failed` records it.
    `billed`: a media call's billing units as known before it (metering.py)."""
    metered = None
    try:
        environment = caller.environment_id
        metered = _Metered(workspace, handle, billed, environment)
        handle = metered.handle(handle)
        served = failover.invoke(
            workspace=workspace,
            ref=handle.ref,
            call=call,
            source=handle.source,
            environment=environment,
        )
    except ProviderError as error:
        if metered is not None:
            metered.refund()
        failed(handle, error)
        raise
    return handle, metered, served


def _call(
    workspace: Workspace,
    handle: ModelHandle,
    *,
    endpoint: str,
    caller: Caller,
    call: Callable[[Credential], T],
    usage_of: Callable[[T], Usage | None] | None = None,
    unit: str = "",
    units_of: Callable[[T], int] | None = None,
    estimate: int = 1,
) -> Served[T]:
    """One call through failover and metering, and its usage record. A media call names its
    `unit` (metering.BILLING_UNITS), how many of them the answer took (`units_of`) and the
    billing units known before the call (`estimate`, reserved on a credits quota)."""
    started = time.perf_counter()

    def failed(handle: ModelHandle, error: ProviderError) -> None:
        _record(
            workspace,
            handle,
            endpoint=endpoint,
            caller=caller,
            started=started,
            outcome=error.code,
            unit=unit,
        )

    handle, metered, served = _invoke_metered(
        workspace, handle, call=call, failed=failed, billed=estimate, caller=caller
    )
    usage = usage_of(served.value) if usage_of else None
    units = units_of(served.value) if units_of else 0
    metered.settle(usage, billing_units(unit, units) if unit else None)
    _record(
        workspace,
        handle,
        endpoint=endpoint,
        caller=caller,
        started=started,
        credential=served.credential,
        usage=usage,
        unit=unit,
        units=units,
    )
    return served


def chat(
    workspace: Workspace,
    model_id: str,
    messages: list[Message] | tuple[Message, ...],
    *,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    stop: tuple[str, ...] = (),
    caller: Caller = Caller(),
    environment: Environment | None = None,
    **options: Any,
) -> Served[ChatResult]:
    """`options` are the other `ChatRequest` fields (tools, response_format, seed...); what
    the provider cannot honour, or the model lacks, raises UnsupportedParameter (a 400 naming
    the field) before any credential is tried."""
    caller = caller.within(environment, workspace)
    handle = resolve(workspace, model_id, "llm", caller.environment_id)
    adapter = get_adapter(handle.provider)
    request = _prepared(
        adapter, handle, messages, temperature, top_p, max_tokens, stop, options, stream=False
    )
    return _call(
        workspace,
        handle,
        endpoint="chat",
        caller=caller,
        call=lambda credential: adapter.chat(credential.values(), request),
        usage_of=lambda result: result.usage,
    )


def _prepared(
    adapter, handle: ModelHandle, messages, temperature, top_p, max_tokens, stop, options, *, stream
) -> ChatRequest:
    request = ChatRequest(
        handle.name, tuple(messages), temperature, top_p, max_tokens, tuple(stop), **options
    )
    return adapter.prepare_chat(
        request,
        features=handle.features,
        stream=stream,
        max_image_bytes=settings.GATEWAY_MAX_IMAGE_BYTES,
    )


@dataclass
class StreamedChat:
    """An accepted streamed chat: iterate `chunks()`; usage is recorded when it ends, and its
    place among this process's open streams (`capacity.py`) is given back."""

    handle: ModelHandle
    credential: Credential
    stream: ChatStream
    _finish: Callable[[Usage | None, str], None]
    _slot: StreamSlot | None = None
    _finished: bool = False

    def __post_init__(self) -> None:
        if self._slot is not None:  # a stream dropped unclosed still gives its place back
            weakref.finalize(self, self._slot.release)

    def chunks(self) -> Iterator[ChatChunk]:
        outcome = "success"
        try:
            yield from self.stream
        except ProviderError as error:
            outcome = error.code
            raise
        except GeneratorExit:
            outcome = "client_disconnected"
            raise
        except Exception:
            outcome = "internal_error"
            raise
        finally:
            self._end(outcome)

    def close(self) -> None:
        """The caller stopped early (a client went away): stop reading from the provider."""
        self._end("client_disconnected")

    def _end(self, outcome: str) -> None:
        try:
            self.stream.close()
            if not self._finished:
                self._finished = True
                self._finish(self.stream.usage, outcome)
        finally:
            if self._slot is not None:
                self._slot.release()


def chat_stream(
    workspace: Workspace,
    model_id: str,
    messages: list[Message] | tuple[Message, ...],
    *,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    stop: tuple[str, ...] = (),
    caller: Caller = Caller(),
    environment: Environment | None = None,
    **options: Any,
) -> StreamedChat:
    """Opens the stream (failing over before the first token like any call) and returns it;
    the usage record is written when the stream ends, with the tokens the provider reported.
    Past this process's cap on open streams raises TooManyStreams before anything else."""
    caller = caller.within(environment, workspace)
    slot = stream_slot()
    try:
        return _open_stream(
            slot,
            workspace,
            model_id,
            messages,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            caller=caller,
            options=options,
        )
    except BaseException:
        slot.release()
        raise


def _open_stream(
    slot: StreamSlot,
    workspace: Workspace,
    model_id: str,
    messages: list[Message] | tuple[Message, ...],
    *,
    temperature: float | None,
    top_p: float | None,
    max_tokens: int | None,
    stop: tuple[str, ...],
    caller: Caller,
    options: dict[str, Any],
) -> StreamedChat:
    handle = resolve(workspace, model_id, "llm", caller.environment_id)
    adapter = get_adapter(handle.provider)
    request = _prepared(
        adapter, handle, messages, temperature, top_p, max_tokens, stop, options, stream=True
    )
    started = time.perf_counter()

    def failed(handle: ModelHandle, error: ProviderError) -> None:
        _record(
            workspace,
            handle,
            endpoint="chat",
            caller=caller,
            started=started,
            outcome=error.code,
            stream=True,
        )

    handle, metered, served = _invoke_metered(
        workspace,
        handle,
        call=lambda credential: adapter.chat_stream(credential.values(), request),
        failed=failed,
        caller=caller,
    )

    def finish(usage: Usage | None, outcome: str) -> None:
        if outcome == "success" or usage is not None:
            metered.settle(usage)
        else:
            metered.refund()
        _record(
            workspace,
            handle,
            endpoint="chat",
            caller=caller,
            started=started,
            credential=served.credential,
            usage=usage,
            outcome=outcome,
            stream=True,
        )

    return StreamedChat(handle, served.credential, served.value, finish, slot)


def embed(
    workspace: Workspace,
    model_id: str,
    inputs: list[str],
    *,
    caller: Caller = Caller(),
    environment: Environment | None = None,
) -> Served[EmbeddingResult]:
    caller = caller.within(environment, workspace)
    handle = resolve(workspace, model_id, "text-embedding", caller.environment_id)
    adapter = get_adapter(handle.provider)
    return _call(
        workspace,
        handle,
        endpoint="embeddings",
        caller=caller,
        call=lambda credential: adapter.embed(credential.values(), handle.name, list(inputs)),
        usage_of=lambda result: result.usage,
    )


def moderate(
    workspace: Workspace,
    model_id: str,
    inputs: list[str],
    *,
    caller: Caller = Caller(),
    environment: Environment | None = None,
) -> Served[ModerationResult]:
    caller = caller.within(environment, workspace)
    handle = resolve(workspace, model_id, "moderation", caller.environment_id)
    adapter = get_adapter(handle.provider)
    return _call(
        workspace,
        handle,
        endpoint="moderations",
        caller=caller,
        call=lambda credential: adapter.moderate(credential.values(), handle.name, list(inputs)),
    )


# -- media: images, speech, transcription, rerank ------------------------------------------------
# Each goes the way of chat: resolution and enablement (`resolve` with the model type), the
# default credential or the pool with failover, the plan quota (in billing units: metering.py)
# and one usage record, which counts the call's media units.

IMAGE_FORMATS = ("url", "b64_json")
TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json")


class InvalidInput(ApplicationError):
    """A media call's input the API refuses before any provider is asked (400 naming it)."""

    error_code = "invalid_request"


def default_model(workspace: Workspace, model_type: str) -> str:
    """The workspace's default model of the type (Settings → Default models), for a call that
    names none; UnknownModel when none is saved."""
    found = default_model_id(workspace=workspace, model_type=model_type)
    if not found:
        raise UnknownModel(
            f"Name a model: this workspace has no default {model_type} model "
            "(Settings → Default models).",
            field="model",
        )
    return found


def generate_image(
    workspace: Workspace,
    model_id: str,
    prompt: str,
    *,
    n: int = 1,
    size: str = "",
    response_format: str = "",
    caller: Caller = Caller(),
    environment: Environment | None = None,
) -> Served[ImageResult]:
    """`n` images of `prompt`, each `{"b64_json"}` or `{"url"}` (the provider's form:
    `response_format` is a wish the caller may have to convert). Metered per image."""
    caller = caller.within(environment, workspace)
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInput("`prompt` must be a non-empty string.", field="prompt")
    if not 1 <= n <= settings.GATEWAY_MAX_IMAGES:
        raise InvalidInput(f"`n` must be from 1 to {settings.GATEWAY_MAX_IMAGES}.", field="n")
    handle = resolve(
        workspace,
        model_id or default_model(workspace, "image"),
        "image",
        caller.environment_id,
    )
    adapter = get_adapter(handle.provider)
    return _call(
        workspace,
        handle,
        endpoint="images",
        caller=caller,
        call=lambda credential: adapter.generate_image(
            credential.values(),
            handle.name,
            prompt,
            n=n,
            size=size,
            response_format=response_format,
        ),
        unit="images",
        units_of=lambda result: len(result.images),
        estimate=n,
    )


class StreamedSpeech(StreamedChat):
    """Accepted speech: iterate `audio()` for the bytes as they arrive (`content_type` says
    their type); the usage record (characters) is written when it ends."""

    @property
    def content_type(self) -> str:
        return str(self.stream.headers.get("content-type") or "application/octet-stream")

    def audio(self) -> Iterator[bytes]:
        for chunk in self.chunks():
            yield chunk.data  # type: ignore[attr-defined] - AudioChunk

    def read(self) -> bytes:
        return b"".join(self.audio())


def speak(
    workspace: Workspace,
    model_id: str,
    text: str,
    *,
    voice: str = "",
    audio_format: str = "mp3",
    caller: Caller = Caller(),
    environment: Environment | None = None,
) -> StreamedSpeech:
    """`text` spoken, streamed as the provider makes it (failover happens before the first
    byte, like a chat stream's; the stream takes one of this process's stream places).
    Metered per character."""
    caller = caller.within(environment, workspace)
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("`input` must be a non-empty string.", field="input")
    if len(text) > settings.GATEWAY_MAX_SPEECH_CHARACTERS:
        raise InvalidInput(
            f"`input` is longer than {settings.GATEWAY_MAX_SPEECH_CHARACTERS} characters.",
            field="input",
        )
    handle = resolve(
        workspace,
        model_id or default_model(workspace, "tts"),
        "tts",
        caller.environment_id,
    )
    adapter = get_adapter(handle.provider)
    characters = len(text)
    slot = stream_slot()
    try:
        started = time.perf_counter()

        def failed(handle: ModelHandle, error: ProviderError) -> None:
            _record(
                workspace,
                handle,
                endpoint="speech",
                caller=caller,
                started=started,
                outcome=error.code,
                stream=True,
                unit="characters",
            )

        handle, metered, served = _invoke_metered(
            workspace,
            handle,
            call=lambda credential: adapter.speak_stream(
                credential.values(), handle.name, text, voice=voice, audio_format=audio_format
            ),
            failed=failed,
            billed=billing_units("characters", characters),
            caller=caller,
        )
    except BaseException:
        slot.release()
        raise

    def finish(usage: Usage | None, outcome: str) -> None:
        if outcome == "success":
            metered.settle(None, billing_units("characters", characters))
        else:
            metered.refund()
        _record(
            workspace,
            handle,
            endpoint="speech",
            caller=caller,
            started=started,
            credential=served.credential,
            outcome=outcome,
            stream=True,
            unit="characters",
            units=characters,
        )

    return StreamedSpeech(handle, served.credential, served.value, finish, slot)


def transcribe(
    workspace: Workspace,
    model_id: str,
    audio: bytes,
    *,
    filename: str = "audio.mp3",
    content_type: str = "audio/mpeg",
    language: str = "",
    caller: Caller = Caller(),
    environment: Environment | None = None,
) -> Served[TranscriptionResult]:
    """The text of an audio file. Metered per second of audio (what the provider reports;
    a WAV file's own header when it reports none)."""
    caller = caller.within(environment, workspace)
    if not audio:
        raise InvalidInput("`file` is empty.", field="file")
    if len(audio) > settings.GATEWAY_MAX_AUDIO_BYTES:
        raise InvalidInput(
            f"`file` is larger than {settings.GATEWAY_MAX_AUDIO_BYTES // 2**20} MiB.",
            field="file",
        )
    handle = resolve(
        workspace,
        model_id or default_model(workspace, "speech2text"),
        "speech2text",
        caller.environment_id,
    )
    adapter = get_adapter(handle.provider)
    fallback = wav_seconds(audio)

    def seconds(result: TranscriptionResult) -> int:
        length = result.duration if result.duration is not None else fallback
        return math.ceil(length) if length else 0

    return _call(
        workspace,
        handle,
        endpoint="transcriptions",
        caller=caller,
        call=lambda credential: adapter.transcribe(
            credential.values(),
            handle.name,
            audio,
            filename=filename,
            content_type=content_type,
            language=language,
        ),
        usage_of=lambda result: result.usage,
        unit="seconds",
        units_of=seconds,
        estimate=billing_units("seconds", fallback or 1),
    )


def wav_seconds(audio: bytes) -> float | None:
    """How long a PCM WAV file plays, from its header; None for anything else."""
    if audio[:4] != b"RIFF" or audio[8:12] != b"WAVE" or len(audio) < 44:
        return None
    byte_rate = int.from_bytes(audio[28:32], "little")
    return (len(audio) - 44) / byte_rate if byte_rate else None


def rerank(
    workspace: Workspace,
    model_id: str,
    query: str,
    documents: list[str],
    *,
    top_n: int | None = None,
    caller: Caller = Caller(),
    environment: Environment | None = None,
) -> Served[RerankResult]:
    """`documents` ranked by relevance to `query`, most relevant first (at most `top_n`).
    Metered per search: the provider's search units, else one per 100 documents."""
    caller = caller.within(environment, workspace)
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("`query` must be a non-empty string.", field="query")
    if not documents or not all(isinstance(d, str) for d in documents):
        raise InvalidInput("`documents` must be a non-empty list of texts.", field="documents")
    if len(documents) > settings.GATEWAY_MAX_RERANK_DOCUMENTS:
        raise InvalidInput(
            f"At most {settings.GATEWAY_MAX_RERANK_DOCUMENTS} documents.", field="documents"
        )
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise InvalidInput("`top_n` must be a positive integer.", field="top_n")
    handle = resolve(
        workspace,
        model_id or default_model(workspace, "rerank"),
        "rerank",
        caller.environment_id,
    )
    adapter = get_adapter(handle.provider)
    searches = math.ceil(len(documents) / 100)
    return _call(
        workspace,
        handle,
        endpoint="rerank",
        caller=caller,
        call=lambda credential: adapter.rerank(
            credential.values(), handle.name, query, list(documents), top_n=top_n
        ),
        unit="searches",
        units_of=lambda result: result.search_units or searches,
        estimate=searches,
    )
