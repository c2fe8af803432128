"""This process's cache of workspace configuration (routes, resolved models, API keys, system
offers), and how a change anywhere reaches it: `config_changed(workspace_id, kind)`.

It lives in `workspaces`, the floor app every other app already imports and which imports none
of them, so balancing, gateway, system, credentials and providers can all declare changes and
keep caches here without importing each other (and without callbacks registered at import).

Each `ConfigCache` is a least-recently-used map with a size and a lifetime (both settings) and
declares which kinds of change it depends on. An entry is dropped when:
- its lifetime ends (always: the bound when nothing else can tell);
- this process declares a change of one of its kinds, now and again when the transaction
  commits (so a read of the not yet committed state in between is not kept);
- another process declared one: with `REDIS_URL`, `config_changed` increments a counter per
  (workspace, kind) in one Redis hash on commit, and a read compares the counters its entry was
  loaded under with the current ones, asked from Redis at most every
  `CONFIG_CACHE_CHECK_SECONDS` (0.05 s) per counter. Another process thus sees a change within
  that interval plus a round trip.
With Redis down (or in embedded mode) entries live out their lifetime; `config_cache_mode()`
says which applies ("shared" or "ttl"), and /healthz shows it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

import redis
from django.conf import settings
from django.db import transaction
from redis.backoff import NoBackoff
from redis.retry import Retry

from .redis_urls import redis_client

logger = logging.getLogger(__name__)

V = TypeVar("V")

VERSIONS_KEY = "config:versions"  # one hash: field "<kind>:<workspace id>" or "<kind>:*"
RETRY_SECONDS = 1.0  # while Redis is down, how often one reader tries it again
_MEMO_SIZE = 20_000  # counters remembered (re-asked from Redis when forgotten)
_CHANGES_SIZE = 100_000  # local changes remembered per field (older ones fold into a floor)


class ConfigKind(StrEnum):
    """What changed. All but SYSTEM_OFFERS belong to one workspace."""

    CREDENTIALS = "credentials"  # a workspace's credentials: added, deleted, default, failing
    POOLS = "pools"  # its load-balancing pools and their entries
    MODELS = "models"  # its custom models and model switches
    PREFERENCES = "preferences"  # which source (system or its own keys) serves a provider
    KEYS = "keys"  # its API keys (revoked, or their creator left)
    SYSTEM_OFFERS = "system_offers"  # the operator's system providers and credentials

    @property
    def per_workspace(self) -> bool:
        return self is not ConfigKind.SYSTEM_OFFERS


def _fields(kinds: Iterable[ConfigKind], workspace_id: int | None) -> tuple[str, ...]:
    """The counters an entry depends on: its workspace's for workspace kinds, else the
    kind's overall one (which every change of the kind increments)."""
    return tuple(
        f"{kind}:{workspace_id}" if workspace_id is not None and kind.per_workspace else f"{kind}:*"
        for kind in kinds
    )


def _together(fields: tuple[str, ...]) -> tuple[str, ...]:
    """`fields` and the other counters the caches of the same workspaces depend on: what one
    question to Redis asks for."""
    workspaces = {field.partition(":")[2] for field in fields} - {"*"}
    together = dict.fromkeys(fields)
    for workspace_id in sorted(workspaces):
        together.update(dict.fromkeys(f"{kind}:{workspace_id}" for kind in _PER_WORKSPACE))
    together.update(dict.fromkeys(f"{kind}:*" for kind in ConfigKind if not kind.per_workspace))
    return tuple(together)


_PER_WORKSPACE = tuple(kind for kind in ConfigKind if kind.per_workspace)


# -- changes made by this process ---------------------------------------------------------------


class _LocalChanges:
    """A sequence number per declared change; an entry loaded at sequence `s` is stale when a
    field it depends on changed after `s`. Bounded: forgotten fields count as changed at the
    latest forgotten sequence (an entry may be dropped early, never kept too long)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.sequence = 0
        self._changed: OrderedDict[str, int] = OrderedDict()
        self._floor = 0

    def bump(self, fields: Iterable[str]) -> None:
        with self._lock:
            self.sequence += 1
            for field in fields:
                self._changed[field] = self.sequence
                self._changed.move_to_end(field)
            while len(self._changed) > _CHANGES_SIZE:
                self._floor = max(self._floor, self._changed.popitem(last=False)[1])

    def forget_all(self) -> None:
        with self._lock:
            self.sequence += 1
            self._floor = self.sequence

    def fresh(self, fields: tuple[str, ...], loaded_at: int) -> bool:
        changed = self._changed
        floor = self._floor
        return floor <= loaded_at and all(changed.get(f, 0) <= loaded_at for f in fields)


_local = _LocalChanges()


# -- changes made by other processes (Redis) -----------------------------------------------------


class _SharedVersions:
    """The per-(workspace, kind) counters in Redis, as this process last read them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._url = ""
        self._client: redis.Redis | None = None
        self._memo: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._asking: Counter[str] = Counter()  # counters being asked from Redis right now
        self.degraded = False
        self._retry_at = 0.0

    def client(self) -> redis.Redis | None:
        url = settings.REDIS_URL
        if not url:
            return None
        if url != self._url:  # first use, or the settings changed (tests)
            with self._lock:
                if url != self._url:
                    self._client = redis_client(
                        url,
                        socket_timeout=0.5,
                        socket_connect_timeout=0.5,
                        retry=Retry(NoBackoff(), 0),
                    )
                    self._url, self._memo, self.degraded = url, OrderedDict(), False
        return self._client

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + RETRY_SECONDS
            if not self.degraded:
                self.degraded = True
                self._memo.clear()
                logger.warning(
                    "Configuration cache: Redis unavailable (%s); other processes' changes are "
                    "seen when entries expire",
                    exc,
                )

    def _recovered(self) -> None:
        if self.degraded:
            with self._lock:
                if self.degraded:
                    self.degraded = False
                    logger.warning("Configuration cache: Redis is back; changes are shared")

    def _may_try(self, *, force: bool = False) -> bool:
        if not self.degraded or force:
            return True
        with self._lock:  # one caller per interval pays for trying a Redis that is down
            if time.monotonic() < self._retry_at:
                return False
            self._retry_at = time.monotonic() + RETRY_SECONDS
            return True

    def versions(self, fields: tuple[str, ...]) -> tuple[int, ...] | None:
        """The fields' counters, asked from Redis when older than the check interval; None
        when there is no Redis or it is down (then only the lifetime applies).

        One round trip per workspace and interval: a question asks for every counter of the
        fields' workspaces (`_together`), so the other caches a request reads next find theirs
        fresh. And while one caller is asking, others needing the same counters use the last
        ones rather than ask again (a burst of greenlets would otherwise all ask at once): the
        answer on its way is at most a round trip newer, within the bound the module gives."""
        client = self.client()
        if client is None:
            return None
        now = time.monotonic()
        interval = settings.CONFIG_CACHE_CHECK_SECONDS
        memo = self._memo
        known = [memo.get(field) for field in fields]
        if all(k is not None and now - k[0] < interval for k in known):
            return tuple(k[1] for k in known)
        if all(k is not None and self._asking[f] for f, k in zip(fields, known, strict=True)):
            return tuple(k[1] for k in known)
        if not self._may_try():
            return None
        asked = _together(fields)
        with self._lock:
            self._asking.update(asked)
        try:
            values = client.hmget(VERSIONS_KEY, asked)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return None
        finally:
            with self._lock:
                self._asking.subtract(asked)
                for field in asked:
                    if self._asking[field] <= 0:
                        del self._asking[field]
        self._recovered()
        current = dict(zip(asked, (int(v or 0) for v in values), strict=True))
        with self._lock:
            for field, version in current.items():
                memo[field] = (now, version)
                memo.move_to_end(field)
            while len(memo) > _MEMO_SIZE:
                memo.popitem(last=False)
        return tuple(current[field] for field in fields)

    def publish(self, fields: tuple[str, ...]) -> None:
        client = self.client()
        if client is None or not self._may_try():
            return
        try:
            pipe = client.pipeline(transaction=False)
            for field in fields:
                pipe.hincrby(VERSIONS_KEY, field, 1)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._recovered()

    def probe(self) -> None:
        """Ask Redis now (health), noticing an outage or a recovery."""
        client = self.client()
        if client is None:
            return
        try:
            client.hlen(VERSIONS_KEY)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._recovered()


_shared = _SharedVersions()


# -- the public API -------------------------------------------------------------------------------


def config_changed(workspace_id: int | None, kind: ConfigKind) -> None:
    """Declare that `kind` of `workspace_id`'s configuration changed (None with
    SYSTEM_OFFERS): this process's entries depending on it go now and again on commit, and on
    commit every other process is told through Redis."""
    kind = ConfigKind(kind)
    if kind.per_workspace == (workspace_id is None):
        raise ValueError(f"{kind} changes {'need' if kind.per_workspace else 'take no'} workspace")
    fields = tuple(dict.fromkeys([*_fields([kind], workspace_id), f"{kind}:*"]))
    _local.bump(fields)

    def committed() -> None:
        _local.bump(fields)
        _shared.publish(fields)

    transaction.on_commit(committed)


def config_forget_all() -> None:
    """Drop every entry of this process (tests; an operator's shell after editing rows)."""
    _local.forget_all()


def config_cache_mode(*, probe: bool = False) -> str:
    """ "shared" while changes reach every process through Redis; "ttl" in embedded mode or
    while Redis is down (changes elsewhere are seen when entries expire). `probe` asks Redis
    now instead of trusting the last read."""
    if not settings.REDIS_URL:
        return "ttl"
    if probe:
        _shared.probe()
    return "ttl" if _shared.degraded else "shared"


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    expires: float
    fields: tuple[str, ...]
    loaded_at: int  # this process's change sequence when the load began
    versions: tuple[int, ...] | None  # the Redis counters then (None: Redis unavailable)


class _Load(Generic[V]):
    """A load under way: callers missing the same key under the same changes wait for it."""

    __slots__ = ("under", "done", "value", "loaded")

    def __init__(self, under: tuple):
        self.under = under
        self.done = threading.Event()
        self.value: V | None = None
        self.loaded = False


class ConfigCache(Generic[V]):
    """A least-recently-used map of at most `size_setting` entries, each kept at most
    `seconds_setting` seconds (0 or less: nothing is kept), dropped early by changes of the
    kinds in `depends_on` (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        depends_on: Iterable[ConfigKind],
        seconds_setting: str,
        size_setting: str,
    ):
        self.name = name
        self.depends_on = tuple(ConfigKind(kind) for kind in depends_on)
        self.seconds_setting = seconds_setting
        self.size_setting = size_setting
        self._entries: OrderedDict[Hashable, _Entry[V]] = OrderedDict()
        self._loading: dict[Hashable, _Load[V]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_load(
        self,
        key: Hashable,
        load: Callable[[], V],
        *,
        workspace_id: int | None,
        keep: Callable[[V], bool] = lambda value: True,
    ) -> V:
        """The value kept for `key` if still fresh, else `load()`'s (kept when `keep` says
        so; an exception from `load` is raised and nothing kept). `workspace_id` is the
        workspace the value belongs to, None when it belongs to none in particular.

        One load per key at a time: callers that miss while a load begun under the same
        changes (this process's sequence and the Redis counters they read) is under way wait
        for it and share its value, as they would share the entry it makes; without this, a
        burst of requests (hundreds of greenlets at once) would all load the same rows."""
        seconds = getattr(settings, self.seconds_setting)
        if seconds <= 0:
            return load()
        fields = _fields(self.depends_on, workspace_id)
        loaded_at = _local.sequence
        versions = _shared.versions(fields)
        now = time.monotonic()
        under = (fields, loaded_at, versions)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                if (
                    entry.expires > now
                    and entry.fields == fields
                    and _local.fresh(fields, entry.loaded_at)
                    and (versions is None or entry.versions in (None, versions))
                ):
                    self._entries.move_to_end(key)
                    return entry.value
                del self._entries[key]
            loading = self._loading.get(key)
            joined = loading is not None and loading.under == under
            if not joined:
                loading = self._loading[key] = _Load(under)
        if joined:
            loading.done.wait()
            if loading.loaded:
                return loading.value
            return load()  # that load failed: this caller gets its own answer
        try:
            value = load()
            loading.value, loading.loaded = value, True
        finally:
            with self._lock:
                if self._loading.get(key) is loading:
                    del self._loading[key]
            loading.done.set()
        if keep(value) and _local.fresh(fields, loaded_at):
            entry = _Entry(value, now + seconds, fields, loaded_at, versions)
            size = max(getattr(settings, self.size_setting), 0)
            with self._lock:
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > size:
                    self._entries.popitem(last=False)
        return value
