"""The domain exceptions a user can cause; views turn them into form errors or JSON in one place.

Errors declare how HTTP answers them, in OpenAI's error shape: `http_status`, `error_type`,
`error_code` and `error_message`. `ApplicationError` does here; the provider taxonomy
(`upstream/errors.py`) and the errors of the apps above do on their classes. `error_answer()`
reads them: the gateway sends the answer whole, the playground its status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ApplicationError(Exception):
    """A rule of the product was not met; `message` is safe to show to the user as it is."""

    field: str | None = None  # the form or request field at fault, when there is one
    http_status = 400
    error_type = "invalid_request_error"
    error_code: str | None = None

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field

    @property
    def error_message(self) -> str:
        return self.message


class NotAllowed(ApplicationError):
    """The acting user's role does not allow this change."""

    http_status = 403
    error_type = "permission_error"


class AnswerableError(Protocol):
    """An error that declares its HTTP answer (ApplicationError, ProviderError, subclasses)."""

    http_status: int
    error_type: str

    @property
    def error_code(self) -> str | None: ...

    @property
    def error_message(self) -> str: ...


@dataclass(frozen=True)
class ErrorAnswer:
    """An error as HTTP answers it: OpenAI's `{"error": {message, type, param, code}}` with this
    status, and Retry-After when `retry_after` is set."""

    status: int
    message: str
    type: str
    code: str | None
    param: str | None
    retry_after: float | None


def error_answer(error: AnswerableError) -> ErrorAnswer:
    """The one map from errors to HTTP answers: what the error's class declares. A rate limit
    always says when to retry (1 s when nobody knows)."""
    retry_after = getattr(error, "retry_after", None)
    if retry_after is None and error.error_type == "rate_limit_error":
        retry_after = 1
    return ErrorAnswer(
        status=error.http_status,
        message=error.error_message,
        type=error.error_type,
        code=error.error_code,
        param=getattr(error, "field", None),
        retry_after=retry_after,
    )
