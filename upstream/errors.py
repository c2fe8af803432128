"""The one taxonomy every provider error maps onto (DESIGN.md section 3), with the words a user
needs to fix it, and how HTTP answers it.

Messages never contain a secret: adapters build them from status codes and the provider's
error text, which they pass through `scrub()` first.

Each class declares its answer in OpenAI's error shape: `http_status`, `error_type` and
`error_code` (the taxonomy's `code` unless a class names another). `error_answer()`
(`workspaces/exceptions.py`) reads them for the gateway and the playground.
"""

from __future__ import annotations

import re


class ProviderError(Exception):
    """A provider call failed; `code` is stable (logs, audit, API), `hint` tells what to do."""

    code = "provider_error"
    title = "Provider error"
    hint = ""
    http_status = 502  # the provider failed: a bad gateway, unless a class says otherwise
    error_type = "api_error"

    def __init__(self, detail: str = "", *, hint: str | None = None):
        self.detail = detail
        if hint is not None:
            self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.title}: {self.detail}" if self.detail else self.title

    @property
    def error_code(self) -> str:
        """The answer's `code`: the taxonomy's, unless a class names another."""
        return self.code

    @property
    def error_message(self) -> str:
        """The answer's `message`: what failed and what to do."""
        return f"{self.message}. {self.hint}".strip()

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class AuthenticationFailed(ProviderError):
    code = "authentication_failed"
    title = "Authentication failed"
    hint = "Verify the key, its expiry, credits and permissions."
    error_code = "upstream_authentication_failed"  # the caller's own key was fine

    @property
    def error_message(self) -> str:
        return f"The provider refused the workspace's credential. {self.message}"


class RateLimited(ProviderError):
    code = "rate_limited"
    title = "Rate limited"
    hint = "The provider is throttling this key. Wait and retry, or add another key to a pool."
    http_status = 429
    error_type = "rate_limit_error"

    def __init__(
        self, detail: str = "", *, retry_after: float | None = None, hint: str | None = None
    ):
        self.retry_after = retry_after
        if retry_after and not detail:
            detail = f"retry after {retry_after:g} s"
        super().__init__(detail, hint=hint)

    def as_dict(self) -> dict:
        return {**super().as_dict(), "retry_after": self.retry_after}


class QuotaExhausted(ProviderError):
    code = "quota_exhausted"
    title = "Quota exhausted"
    hint = "The account has no credit or quota left. Check billing with the provider."
    http_status = 429
    error_type = "insufficient_quota"


class QuotaExceeded(ProviderError):
    """The workspace's plan quota for a system provider is used up (not the provider's own
    billing: that is QuotaExhausted). The message is the whole sentence users see."""

    code = "quota_exceeded"
    title = "Quota exceeded"
    hint = "Add your own credential for this provider, or ask the site operator for a bigger plan."
    http_status = 429
    error_type = "insufficient_quota"

    def __init__(self, detail: str = "", *, retry_after: float | None = None, hint=None):
        self.retry_after = retry_after  # until the quota's period starts again; None: never
        super().__init__(detail, hint=hint)

    @property
    def message(self) -> str:
        return self.detail or self.title


class ModelNotAvailable(ProviderError):
    code = "model_not_available"
    title = "Model not available"
    hint = "The key cannot reach this model. Refresh models to see which ones it can use."
    http_status = 404
    error_type = "invalid_request_error"
    error_code = "model_not_found"


class BadRequest(ProviderError):
    code = "bad_request"
    title = "Bad request"
    hint = "The provider rejected the request. Check the fields of the credential."
    http_status = 400
    error_type = "invalid_request_error"


class UpstreamError(ProviderError):
    code = "upstream_error"
    title = "Provider error"
    hint = "The provider had a problem (5xx or an unreadable answer). Try again shortly."


class Unreachable(ProviderError):
    code = "unreachable"
    title = "Provider unreachable"
    hint = "Could not connect. Check the base URL, DNS and that the server is running."


class Timeout(ProviderError):
    code = "timeout"
    title = "Timed out"
    hint = "The provider did not answer in time. Try again, or check the base URL."
    http_status = 504


class NotSupported(ProviderError):
    code = "not_supported"
    title = "Not supported"
    hint = "This provider or model does not offer that kind of call."
    http_status = 400
    error_type = "invalid_request_error"


class UnsupportedParameter(NotSupported):
    """A chat option the provider cannot honour, or a feature the model lacks: refused before
    anything is sent, as a 400 naming the request's field (`field`), never dropped."""

    code = "unsupported_parameter"
    title = "Unsupported parameter"
    hint = ""

    def __init__(self, detail: str, *, param: str, code: str | None = None, reason: str = ""):
        self.field = param
        self.reason = reason  # why, on its own (the gateway docs' feature table shows it)
        if code is not None:
            self.code = code
        super().__init__(detail)

    @property
    def message(self) -> str:
        return self.detail

    @property
    def error_message(self) -> str:
        return self.detail


class UnsafeURL(ProviderError):
    """The SSRF guard refused an address; the hint says how the operator allows it."""

    code = "unsafe_url"
    title = "Address not allowed"
    hint = (
        "Private, loopback, link-local and metadata addresses are refused. The operator can "
        "allow a host by adding host:port to PROVIDER_URL_ALLOWLIST (for a local Ollama: "
        "localhost:11434)."
    )


# Anything that looks like a credential inside a provider's error text is cut out before the
# text reaches a page, a log line or the database: providers echo keys back, sometimes partly
# masked ("Incorrect API key provided: sk-te****1234").
_SECRET_PATTERNS = [
    re.compile(r"\b(?:sk|pk|rk|ak)[-_][A-Za-z0-9_\-*.]{3,}"),  # OpenAI/Anthropic-style keys
    re.compile(r"\bAIza[0-9A-Za-z_\-]{10,}"),  # Google API keys
    re.compile(r"(?i)\bbearer\s+\S+"),
    # Long opaque tokens: letters and digits mixed, no spaces, slashes or dots (not a URL).
    re.compile(r"\b(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{24,}\b"),
]


def scrub(text: str, *, secrets: tuple[str, ...] = (), limit: int = 300) -> str:
    """A provider's error text made safe to show: secrets removed, control chars gone, capped."""
    text = str(text or "")
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")
