"""Logging for production: one JSON object per line, and a filter that masks secrets.

The application never logs secrets (adapters scrub provider texts, errors name credentials by
name); `RedactSecrets` is the second line of defence for anything a library might log: API
keys (`sk-…`, `mck_…`, `AIza…`, long tokens after "Bearer" or "key="), invitation links.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|key|token|secret|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]{6,}"
    ),
    re.compile(r"\b(sk-|mck_|AIza|xai-|gsk_)[A-Za-z0-9_-]{6,}"),
    # An invitation link's token, in a server's request line (workspaces/invitations.py).
    re.compile(r"(/invitation/)(?!accept/)[A-Za-z0-9_:-]{16,}"),
]


def redact(text: str) -> str:
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", text)
    return text


class ForbiddenInOneLine(logging.Filter):
    """A 403 is a person reaching for what their role does not open, not a fault: Django logs
    it with the PermissionDenied traceback; this keeps the one line ("Forbidden: /path")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info, record.exc_text = None, None
        return True


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)
