"""The routing engine of load-balancing pools: strict round-robin over a pool's entries, the
cooldown policy (which errors take an entry out of rotation, for how long), half-open probes,
failover across entries, and the shared (Redis) or process-local state all of that lives in.

Pure Python and redis-py, usable from web and worker processes alike. It knows nothing about
Django models: a pool is an opaque `pool_key` ("ws:12:openai:gpt-4o:llm") and its entries are
string ids, passed on every call, because the pool's configuration lives in the database and
the caller already holds it. Weights come from repetition: an entry id listed twice gets two
turns per round.

State backends. `RedisState` keeps one hash per pool (`lb:pool:<pool_key>`) holding the
round-robin index and each entry's cooldown, so a pick is one round trip (a Lua script that
advances the index past entries that are cooling down, failing or being probed). `LocalState`
runs the same algorithm on a dict under a lock. A `Router` built on Redis falls back to a
`LocalState` when Redis raises, says so once in the log, and tries Redis again every
`retry_seconds`; cooldowns learnt while degraded stay local and are not copied back.

Time comes from an injectable `clock` and is passed into the Lua script as an argument (not
Redis TIME), so every backend is deterministic under a fake clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from upstream.errors import (
    AuthenticationFailed,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    Timeout,
    Unreachable,
    UpstreamError,
)
from workspaces.redis_urls import redis_client

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Entry states as the live pool view shows them.
IN_ROTATION = "in rotation"
COOLING_DOWN = "cooling down"
FAILING = "failing"
PROBING = "probing"

# How the backends store an entry's condition. "cool" returns to rotation when it expires;
# "back" (backing off after a transient error) hands out one probe when it expires; "probe"
# is a probe in flight until its deadline; "fail" never expires, only restore() ends it.
_COOL, _BACK, _PROBE, _FAIL = "cool", "back", "probe", "fail"

RATE_LIMIT_MIN_SECONDS = 60.0
TRANSIENT_FIRST_SECONDS = 10.0


class PoolUnavailable(ProviderError):
    """No entry of the pool could serve the call: every one failed, is cooling down or failing.

    `retry_after` is the number of seconds until the earliest entry is back in rotation, None
    when only failing entries remain (they come back when their credential is fixed: the answer
    is then 503, with no time to retry after).
    `errors` maps each entry tried during the call to the error it raised.
    """

    code = "pool_unavailable"
    title = "No entry of the pool is available"
    hint = (
        "Every entry of this model's pool failed or is cooling down. Retry after the time given, "
        "fix the failing credentials, or add another credential to the pool."
    )
    http_status = 429
    error_type = "rate_limit_error"

    def __init__(
        self,
        detail: str = "",
        *,
        retry_after: float | None = None,
        errors: dict[str, ProviderError] | None = None,
        hint: str | None = None,
    ):
        self.retry_after = retry_after
        self.errors = dict(errors or {})
        if retry_after is None:
            self.http_status, self.error_type = 503, "api_error"
        super().__init__(detail, hint=hint)

    def as_dict(self) -> dict:
        return {**super().as_dict(), "retry_after": self.retry_after}


class Cooldown(NamedTuple):
    """What an error does to an entry: out of rotation for `seconds` (None: until restored)."""

    seconds: float | None
    reason: str
    state: str  # COOLING_DOWN or FAILING
    probe: bool = False  # on expiry, hand out one half-open probe before full rotation


def cooldown_for(
    error: BaseException,
    failures: int,
    *,
    cap_seconds: float = 3600.0,
    backoff_cap_seconds: float = 300.0,
) -> Cooldown | None:
    """The cooldown an entry earns with `error`, its `failures`-th consecutive failure.

    None means the error is not the entry's fault (a bad request, a model the key cannot
    reach, an address the SSRF guard refused): the entry stays in rotation and the caller sees
    the error, since another entry would fail the same way.
    """
    if isinstance(error, RateLimited):
        seconds = max(RATE_LIMIT_MIN_SECONDS, error.retry_after or 0.0)
        return Cooldown(min(seconds, cap_seconds), error.code, COOLING_DOWN)
    if isinstance(error, (AuthenticationFailed, QuotaExhausted)):
        return Cooldown(None, error.code, FAILING)
    if isinstance(error, (UpstreamError, Unreachable, Timeout)):
        doublings = min(max(failures, 1) - 1, 32)  # bounded: 2**32 * 10 s is past any cap
        seconds = min(TRANSIENT_FIRST_SECONDS * 2**doublings, backoff_cap_seconds)
        return Cooldown(seconds, error.code, COOLING_DOWN, probe=True)
    return None


class Pick(NamedTuple):
    """The outcome of one pick: an entry, or none and when the earliest entry is back."""

    entry_id: str | None
    probe: bool = False  # this caller holds the entry's half-open probe
    recovering: bool = False  # the entry has failures on record: success must clear them
    available_at: float | None = None  # unix time, when entry_id is None (None: only failing)


class Record(NamedTuple):
    """An entry's stored condition, as a backend holds it (no state: in rotation)."""

    condition: str | None
    until: float | None
    reason: str | None
    failures: int


@dataclass(frozen=True)
class EntryState:
    """One entry as the live pool view shows it."""

    entry_id: str
    state: str  # IN_ROTATION, COOLING_DOWN, FAILING or PROBING
    until: float | None  # unix time the cooldown (or probe) ends; None when not timed
    reason: str | None  # the error code that took the entry out of rotation
    failures: int  # consecutive failures
    weight: int  # how many times the entry appears in the pool


class RouterState(Protocol):
    """Where round-robin indexes and cooldowns live; both backends implement this."""

    def pick(
        self, pool_key: str, entry_ids: Sequence[str], *, now: float, probe_timeout: float
    ) -> Pick: ...

    def count_failure(self, pool_key: str, entry_id: str) -> int: ...

    def cool(self, pool_key: str, entry_id: str, cooldown: Cooldown, *, now: float) -> None: ...

    def clear(self, pool_key: str, entry_id: str) -> None: ...

    def records(self, pool_key: str, entry_ids: Sequence[str]) -> dict[str, Record]: ...


# One round trip per pick. KEYS[1]: the pool's hash. ARGV: now, probe timeout, key TTL, then
# the entry ids in pool order. Returns {1, entry, probe, recovering} or {0, earliest or ""}.
# Numbers travel as strings: Lua numbers in a reply would be truncated to integers.
_PICK_LUA = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local probe_timeout = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local n = #ARGV - 3
local start = tonumber(redis.call('HGET', key, 'idx') or '0') % n
local earliest = nil
for i = 0, n - 1 do
  local pos = (start + i) % n
  local entry = ARGV[4 + pos]
  local rec = redis.call('HMGET', key, 's:' .. entry, 'u:' .. entry, 'f:' .. entry)
  local condition, expiry, failures = rec[1], tonumber(rec[2]) or 0, rec[3]
  local chosen, probe = false, 0
  if not condition then
    chosen = true
  elseif condition == 'fail' then
    chosen = false
  elseif expiry > now then
    if earliest == nil or expiry < earliest then earliest = expiry end
  elseif condition == 'cool' then
    redis.call('HDEL', key, 's:' .. entry, 'u:' .. entry, 'r:' .. entry)
    chosen = true
  else
    -- a backoff that ran out, or a probe whose caller never reported: one new probe
    redis.call('HSET', key, 's:' .. entry, 'probe', 'u:' .. entry,
               string.format('%.17g', now + probe_timeout))
    chosen, probe = true, 1
  end
  if chosen then
    redis.call('HSET', key, 'idx', (pos + 1) % n)
    if ttl > 0 then redis.call('EXPIRE', key, ttl) end
    local recovering = 0
    if failures and failures ~= '0' then recovering = 1 end
    return {1, entry, probe, recovering}
  end
end
if earliest == nil then return {0, ''} end
return {0, string.format('%.17g', earliest)}
"""

# Applies a cooldown without undoing a stronger one: a failing entry stays failing, and a
# longer cooldown already running is kept (a probe in flight is always replaced).
# KEYS[1]: the pool's hash. ARGV: entry, condition, until ("" for none), reason, key TTL.
_COOL_LUA = """
local key, entry, condition, expiry, reason = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl = tonumber(ARGV[5])
local rec = redis.call('HMGET', key, 's:' .. entry, 'u:' .. entry)
local current, current_expiry = rec[1], tonumber(rec[2]) or 0
if current == 'fail' and condition ~= 'fail' then return 0 end
if (current == 'cool' or current == 'back') and condition ~= 'fail'
   and current_expiry >= tonumber(expiry) then return 0 end
redis.call('HSET', key, 's:' .. entry, condition, 'u:' .. entry, expiry, 'r:' .. entry, reason)
if ttl > 0 then redis.call('EXPIRE', key, ttl) end
return 1
"""


def _condition(cooldown: Cooldown) -> str:
    if cooldown.seconds is None or cooldown.state == FAILING:
        return _FAIL
    return _BACK if cooldown.probe else _COOL


class RedisState:
    """Round-robin indexes and cooldowns in Redis, shared by every process.

    One hash per pool. It expires after `ttl_seconds` without a pick or a cooldown, so pools
    that were deleted leave nothing behind; a failing entry of a pool idle that long comes back
    into rotation and is marked failing again by its first failed call.
    """

    def __init__(
        self, client: redis.Redis, *, prefix: str = "lb:pool:", ttl_seconds: int = 7 * 86400
    ):
        self.client = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._pick = client.register_script(_PICK_LUA)
        self._cool = client.register_script(_COOL_LUA)

    def _key(self, pool_key: str) -> str:
        return f"{self.prefix}{pool_key}"

    def pick(
        self, pool_key: str, entry_ids: Sequence[str], *, now: float, probe_timeout: float
    ) -> Pick:
        reply = self._pick(
            keys=[self._key(pool_key)],
            args=[repr(now), repr(probe_timeout), self.ttl_seconds, *entry_ids],
        )
        if int(reply[0]) == 1:
            entry = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
            return Pick(entry, probe=bool(int(reply[2])), recovering=bool(int(reply[3])))
        earliest = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        return Pick(None, available_at=float(earliest) if earliest else None)

    def count_failure(self, pool_key: str, entry_id: str) -> int:
        return int(self.client.hincrby(self._key(pool_key), f"f:{entry_id}", 1))

    def cool(self, pool_key: str, entry_id: str, cooldown: Cooldown, *, now: float) -> None:
        condition = _condition(cooldown)
        until = "" if condition == _FAIL else repr(now + cooldown.seconds)
        self._cool(
            keys=[self._key(pool_key)],
            args=[entry_id, condition, until, cooldown.reason, self.ttl_seconds],
        )

    def clear(self, pool_key: str, entry_id: str) -> None:
        fields = [f"{prefix}:{entry_id}" for prefix in ("s", "u", "r", "f")]
        self.client.hdel(self._key(pool_key), *fields)

    def records(self, pool_key: str, entry_ids: Sequence[str]) -> dict[str, Record]:
        distinct = list(dict.fromkeys(entry_ids))
        fields = [f"{p}:{entry}" for entry in distinct for p in ("s", "u", "r", "f")]
        values = self.client.hmget(self._key(pool_key), fields) if fields else []
        text = [v.decode() if isinstance(v, bytes) else v for v in values]
        result = {}
        for i, entry in enumerate(distinct):
            condition, until, reason, failures = text[4 * i : 4 * i + 4]
            result[entry] = Record(
                condition,
                float(until) if until and condition != _FAIL else None,
                reason,
                int(failures or 0),
            )
        return result


class _Entry:
    __slots__ = ("condition", "until", "reason", "failures")

    def __init__(self):
        self.condition: str | None = None
        self.until = 0.0
        self.reason: str | None = None
        self.failures = 0


class LocalState:
    """The same algorithm as the Lua scripts, on this process's memory under one lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._index: dict[str, int] = {}
        self._entries: dict[tuple[str, str], _Entry] = {}

    def _entry(self, pool_key: str, entry_id: str) -> _Entry:
        return self._entries.setdefault((pool_key, entry_id), _Entry())

    def pick(
        self, pool_key: str, entry_ids: Sequence[str], *, now: float, probe_timeout: float
    ) -> Pick:
        n = len(entry_ids)
        with self._lock:
            start = self._index.get(pool_key, 0) % n
            earliest = None
            for i in range(n):
                pos = (start + i) % n
                entry_id = entry_ids[pos]
                entry = self._entries.get((pool_key, entry_id))
                probe = False
                if entry is None or entry.condition is None:
                    pass
                elif entry.condition == _FAIL:
                    continue
                elif entry.until > now:
                    earliest = entry.until if earliest is None else min(earliest, entry.until)
                    continue
                elif entry.condition == _COOL:
                    entry.condition, entry.reason = None, None
                else:
                    entry.condition, entry.until, probe = _PROBE, now + probe_timeout, True
                self._index[pool_key] = (pos + 1) % n
                recovering = entry is not None and entry.failures > 0
                return Pick(entry_id, probe=probe, recovering=recovering)
            return Pick(None, available_at=earliest)

    def count_failure(self, pool_key: str, entry_id: str) -> int:
        with self._lock:
            entry = self._entry(pool_key, entry_id)
            entry.failures += 1
            return entry.failures

    def cool(self, pool_key: str, entry_id: str, cooldown: Cooldown, *, now: float) -> None:
        condition = _condition(cooldown)
        until = float("inf") if condition == _FAIL else now + cooldown.seconds
        with self._lock:
            entry = self._entry(pool_key, entry_id)
            if entry.condition == _FAIL and condition != _FAIL:
                return
            if entry.condition in (_COOL, _BACK) and condition != _FAIL and entry.until >= until:
                return
            entry.condition, entry.until, entry.reason = condition, until, cooldown.reason

    def clear(self, pool_key: str, entry_id: str) -> None:
        with self._lock:
            self._entries.pop((pool_key, entry_id), None)

    def records(self, pool_key: str, entry_ids: Sequence[str]) -> dict[str, Record]:
        with self._lock:
            result = {}
            for entry_id in dict.fromkeys(entry_ids):
                entry = self._entries.get((pool_key, entry_id)) or _Entry()
                until = entry.until if entry.condition not in (None, _FAIL) else None
                result[entry_id] = Record(entry.condition, until, entry.reason, entry.failures)
            return result


class Router:
    """Picks entries of a pool, applies cooldowns, fails over, and survives a Redis outage.

    `shared` is the state every process sees (a RedisState) or None for embedded mode; the
    process-local state stands in whenever the shared one raises a Redis error.
    """

    def __init__(
        self,
        shared: RouterState | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        wait_seconds: float = 0.0,
        retry_seconds: float = 5.0,
        probe_timeout: float = 30.0,
        cap_seconds: float = 3600.0,
        backoff_cap_seconds: float = 300.0,
    ):
        self.shared = shared
        self.local = LocalState()
        self.clock = clock
        self.sleep = sleep
        self.wait_seconds = wait_seconds
        self.retry_seconds = retry_seconds
        self.probe_timeout = probe_timeout
        self.cap_seconds = cap_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self._mode_lock = threading.Lock()
        self._degraded = False
        self._retry_at = 0.0

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        socket_timeout: float = 0.5,
        socket_connect_timeout: float = 0.5,
        **options,
    ) -> Router:
        """A router on the Redis at `url`, with timeouts short enough to fall back quickly.

        redis-py retries a failed command ten times by default; here it does not retry, the
        router's own fallback does the recovering.
        """
        client = redis_client(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(RedisState(client), **options)

    @classmethod
    def local(cls, **options) -> Router:
        """A router on process-local state only (embedded mode, no Redis)."""
        return cls(None, **options)

    @property
    def mode(self) -> str:
        """Either "shared" (routing on Redis) or "local" (embedded, or Redis is down)."""
        return "shared" if self.shared is not None and not self._degraded else "local"

    # -- state access with fallback -------------------------------------------------------

    def _run(self, operation: Callable[[RouterState], T]) -> T:
        shared = self.shared
        if shared is None:
            return operation(self.local)
        if self._degraded:
            with self._mode_lock:
                # One caller per interval pays for trying Redis again; the others stay local.
                if self.clock() < self._retry_at:
                    return operation(self.local)
                self._retry_at = self.clock() + self.retry_seconds
        try:
            result = operation(shared)
        except (redis.RedisError, OSError) as exc:
            with self._mode_lock:
                self._retry_at = self.clock() + self.retry_seconds
                if not self._degraded:
                    self._degraded = True
                    logger.warning(
                        "Load balancing: Redis unavailable (%s); routing on process-local "
                        "state, retrying Redis every %g s",
                        exc,
                        self.retry_seconds,
                    )
            return operation(self.local)
        if self._degraded:
            with self._mode_lock:
                if self._degraded:
                    self._degraded = False
                    logger.warning("Load balancing: Redis is back; routing on shared state")
        return result

    # -- the public API ----------------------------------------------------------------------

    def pick(self, pool_key: str, entry_ids: Sequence[str]) -> Pick:
        """The next entry in rotation, skipping those cooling down, failing or being probed."""
        if not entry_ids:
            return Pick(None)
        now = self.clock()
        ids = list(entry_ids)
        return self._run(lambda s: s.pick(pool_key, ids, now=now, probe_timeout=self.probe_timeout))

    def report_success(self, pool_key: str, entry_id: str) -> None:
        """The entry answered: its failures and any probe are cleared, it is in rotation."""
        self._run(lambda s: s.clear(pool_key, entry_id))

    def report_failure(self, pool_key: str, entry_id: str, error: BaseException) -> Cooldown | None:
        """Applies the cooldown `error` earns; None (nothing recorded) if it earns none."""
        if cooldown_for(error, 1, cap_seconds=self.cap_seconds) is None:
            return None
        failures = self._run(lambda s: s.count_failure(pool_key, entry_id))
        cooldown = cooldown_for(
            error,
            failures,
            cap_seconds=self.cap_seconds,
            backoff_cap_seconds=self.backoff_cap_seconds,
        )
        now = self.clock()
        self._run(lambda s: s.cool(pool_key, entry_id, cooldown, now=now))
        return cooldown

    def note_rate_limit(
        self,
        pool_key: str,
        entry_id: str,
        *,
        remaining: int | None,
        reset_seconds: float | None,
    ) -> Cooldown | None:
        """Takes the entry out of rotation until its rate limit resets, when the provider's
        headers say nothing is left, before it ever answers 429."""
        if remaining is None or remaining > 0 or not reset_seconds or reset_seconds <= 0:
            return None
        cooldown = Cooldown(min(reset_seconds, self.cap_seconds), RateLimited.code, COOLING_DOWN)
        now = self.clock()
        self._run(lambda s: s.cool(pool_key, entry_id, cooldown, now=now))
        return cooldown

    def restore(self, pool_key: str, entry_id: str) -> None:
        """Puts an entry back into rotation (a failing credential was fixed and re-validated)."""
        self._run(lambda s: s.clear(pool_key, entry_id))

    def state(self, pool_key: str, entry_ids: Sequence[str]) -> dict[str, EntryState]:
        """Each distinct entry's state now, in pool order, for the live pool view."""
        now = self.clock()
        ids = list(entry_ids)
        records = self._run(lambda s: s.records(pool_key, ids))
        weights = {entry_id: ids.count(entry_id) for entry_id in records}
        result = {}
        for entry_id, record in records.items():
            state, until, reason = IN_ROTATION, None, None
            if record.condition == _FAIL:
                state, reason = FAILING, record.reason
            elif record.condition and record.until is not None and record.until > now:
                state = PROBING if record.condition == _PROBE else COOLING_DOWN
                until, reason = record.until, record.reason
            result[entry_id] = EntryState(
                entry_id, state, until, reason, record.failures, weights[entry_id]
            )
        return result

    def invoke(
        self,
        pool_key: str,
        entry_ids: Sequence[str],
        call: Callable[[str], T],
        *,
        names: Mapping[str, str] | None = None,
    ) -> tuple[str, T]:
        """Calls `call(entry_id)` on the next entry in rotation, failing over to the next one
        on a cooldown-worthy error (each entry at most once), and returns (entry_id, value).

        Errors that are not the entry's fault propagate at once. With `wait_seconds`, a call
        that finds every entry cooling down waits for the earliest one, within that bound.
        Raises PoolUnavailable when no entry is left; its message calls entries by `names`
        (credential names rather than ids) when given.
        """
        errors: dict[str, ProviderError] = {}
        deadline = self.clock() + self.wait_seconds
        while True:
            pick = self.pick(pool_key, entry_ids)
            if pick.entry_id is None or pick.entry_id in errors:
                now = self.clock()
                back_at = pick.available_at
                if pick.entry_id is None and back_at is not None and back_at <= deadline:
                    self.sleep(max(0.001, back_at - now))
                    continue
                raise self._unavailable(pool_key, entry_ids, errors, back_at, now, names or {})
            entry_id = pick.entry_id
            try:
                value = call(entry_id)
            except ProviderError as error:
                if self.report_failure(pool_key, entry_id, error) is None:
                    if pick.recovering:  # the provider answered: the entry itself is fine
                        self.report_success(pool_key, entry_id)
                    raise
                errors[entry_id] = error
                continue
            if pick.recovering:
                self.report_success(pool_key, entry_id)
            return entry_id, value

    def _unavailable(
        self,
        pool_key: str,
        entry_ids: Sequence[str],
        errors: dict[str, ProviderError],
        back_at: float | None,
        now: float,
        names: Mapping[str, str],
    ) -> PoolUnavailable:
        states = self.state(pool_key, entry_ids)
        if back_at is None:  # the pick found an entry tried already; ask the state instead
            timed = [s.until for s in states.values() if s.until is not None]
            back_at = min(timed) if timed else None
        counts: dict[str, int] = {}
        for entry in states.values():
            counts[entry.state] = counts.get(entry.state, 0) + 1
        total = len(states)
        noun = "entry" if total == 1 else "entries"
        if not states:
            detail = "the pool has no entries"
        elif len(counts) == 1:
            (only,) = counts
            verb = "is" if total == 1 else "are"
            detail = f"{'the' if total == 1 else f'all {total}'} {noun} {verb} {only}"
        else:
            parts = ", ".join(f"{count} {state}" for state, count in counts.items())
            detail = f"no entry is available ({parts})"
        if errors:
            tried = ", ".join(
                f"{names.get(entry_id, entry_id)}: {error.message}"
                for entry_id, error in errors.items()
            )
            detail = f"{detail}; tried {tried}"
        retry_after = max(0.0, back_at - now) if back_at is not None else None
        if retry_after is not None:
            detail = f"{detail}; retry in {retry_after:.0f} s"
        error = PoolUnavailable(detail, retry_after=retry_after, errors=errors)
        if errors:
            error.__cause__ = list(errors.values())[-1]
        return error
