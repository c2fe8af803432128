"""What every fake provider shares: the request a fake sees, the reply it gives, the scenario
a key asks for, and `FakeProvider`, the base each provider module derives from.

Scenarios (SCENARIOS) are chosen by the key's content (a key containing "ratelimited" is rate
limited) or by an `/s/<scenario>` segment in the path (`server.FakeProviderServer.base_url`);
what each one does is listed in the package's docstring (tests/fakes/providers/__init__.py).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.providers.server import FakeProviderServer

# Matching order: the first scenario word found in a key wins.
SCENARIOS = (
    "ratelimited",
    "spendlimit",
    "trialmonth",
    "overloaded",
    "cancelled",
    "forbidden",
    "notfound",
    "error500",
    "malformed",
    "invalid",
    "quota",
    "hang",
    "slow",
    "reset",
    "echo",
    "lastrequest",
    "badusage",
    "deepjson",
)
RETRY_AFTER = 7


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list: JSON; bytes/str: sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        if self.body is None:
            return b""
        return json.dumps(self.body).encode()


@dataclass
class FakeRequest:
    """A request as a provider handler sees it: `path` is the provider's own path."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    server: FakeProviderServer

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        if value.lower().startswith("bearer "):
            return value[7:].strip() or None
        return None

    def int_query(self, name: str, default: int) -> int:
        try:
            return int(self.query.get(name, default))
        except ValueError:
            return default


def scenario_of(key: str | None) -> str | None:
    key = (key or "").lower()
    return next((word for word in SCENARIOS if word in key), None)


def mask(key: str) -> str:
    """How OpenAI shows a wrong key back: "sk-te****1234"."""
    return f"{key[:5]}****{key[-4:]}" if len(key) > 12 else "****"


def request_id(prefix: str = "req_") -> str:
    return prefix + uuid.uuid4().hex[:24]


def paginate(items: list, *, offset: int, size: int, cap: int) -> tuple[list, int | None]:
    size = max(1, min(size, cap))
    page = items[offset : offset + size]
    following = offset + size
    return page, (following if following < len(items) else None)


class FakeProvider:
    prefix = ""
    requires_key = True
    # The provider's token-count fields, wherever its answers (and stream events) carry them.
    USAGE_COUNTS: tuple[str, ...] = ()

    def key(self, req: FakeRequest) -> str | None:
        return req.bearer()

    def missing_key(self, req: FakeRequest) -> Reply:
        return self.error("invalid", req) or Reply(401, {"error": "unauthorized"})

    def error(self, scenario: str, req: FakeRequest) -> Reply | None:
        """The provider's answer for an error scenario, or None when it has no such error."""
        return None

    def handle(self, req: FakeRequest) -> Reply:
        raise NotImplementedError

    def spoil_usage(self, reply: Reply) -> Reply:
        """The "badusage" scenario: the same answer in the same framing (JSON, server-sent
        events or NDJSON lines) with each numeric token count replaced by "x"."""

        def spoil(value: Any) -> Any:
            if isinstance(value, dict):
                return {
                    key: "x"
                    if key in self.USAGE_COUNTS and isinstance(item, int | float)
                    else spoil(item)
                    for key, item in value.items()
                }
            if isinstance(value, list):
                return [spoil(item) for item in value]
            return value

        def spoil_line(line: str) -> str:
            end = "\r" if line.endswith("\r") else ""  # Gemini ends its events with CRLF
            line = line.removesuffix("\r")
            head, data = ("data: ", line[6:]) if line.startswith("data: ") else ("", line)
            if not head and "event-stream" in reply.content_type:
                return line + end  # "event: ...", blank lines
            try:
                payload = json.loads(data)
            except ValueError:
                return line + end  # "[DONE]"
            return head + json.dumps(spoil(payload)) + end

        if reply.status >= 300 or not self.USAGE_COUNTS:
            return reply
        if isinstance(reply.body, dict | list):
            reply.body = spoil(reply.body)
        elif isinstance(reply.body, bytes | str):
            text = reply.body.decode() if isinstance(reply.body, bytes) else reply.body
            lines = [spoil_line(line) for line in text.split("\n")]
            reply.body = "\n".join(lines).encode()
        return reply
