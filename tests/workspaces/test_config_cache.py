"""The bounded configuration cache (workspaces/config_cache.py): a change committed in one
process is seen by another process on its next reads, long before the cache lifetime ends;
with Redis down the lifetime is the bound again, and /healthz says so.

The other process is real: `tests/fakes/config_reader.py`, a Django process on the same
test database and Redis, reading through the app's own caches as a web process does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from api_keys.models import ApiKey
from api_keys.services import api_key_authenticate, api_key_create, api_key_revoke
from balancing.services import ModelRef, pool_entry_add, pool_set_enabled
from providers.services import model_set_enabled
from tests.conftest import shared_database_url
from tests.factories import CredentialFactory
from workspaces.config_cache import ConfigCache, ConfigKind, config_changed

ROOT = Path(__file__).resolve().parents[2]
LIFETIME = 60  # the other process's cache lifetime: far longer than any wait below


class OtherProcess:
    """The reader process; `ask(command)` sends one probe and returns its answer."""

    def __init__(self, redis_url: str):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": shared_database_url(),
            "REDIS_URL": redis_url,
            "FIELD_ENCRYPTION_KEY": ",".join(django_settings.FIELD_ENCRYPTION_KEY),
            "SECRET_KEY": django_settings.SECRET_KEY,
            "VAR_DIR": str(django_settings.VAR_DIR),
            "LOAD_BALANCING_CONFIG_CACHE_SECONDS": str(LIFETIME),
            "API_KEY_CACHE_SECONDS": str(LIFETIME),
            "LOG_LEVEL": "WARNING",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.config_reader"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert json.loads(self.process.stdout.readline()) == {"ready": True}

    def ask(self, command: dict):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the other process died"
        return json.loads(line)

    def after_change(self, probe: dict, expect, what: str) -> dict:
        """Reads `probe` in the other process until it answers `expect` (3 s at most, a
        twentieth of its cache lifetime), and prints how long that took."""
        answer = self.ask({"until": probe, "expect": expect, "timeout": 3})
        print(
            f"\n{what}: seen by the other process after {answer['ms']} ms ({answer['reads']} reads)"
        )
        return answer

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def other_process(redis_url):
    process = OtherProcess(redis_url)
    try:
        yield process
    finally:
        process.close()


@pytest.fixture
def shared_redis(settings, redis_url):
    """This process on the same Redis as the other one."""
    settings.REDIS_URL = redis_url
    settings.EMBEDDED_MODE = False
    return redis_url


def _openai_credentials(workspace, count: int):
    return [
        CredentialFactory(workspace=workspace, name=f"key-{i}", is_default=i == 0)
        for i in range(count)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_key_revoked_in_one_process_is_refused_by_another_at_once(
    shared_redis, other_process, workspace, members
):
    owner = members["owner"].user
    new = api_key_create(workspace=workspace, name="app", acting_user=owner)
    probe = {"probe": "key", "secret": new.secret}
    assert other_process.ask(probe) is True  # now cached there for 60 s

    api_key_revoke(api_key=new.api_key, acting_user=owner)

    answer = other_process.after_change(probe, False, "a revoked key")
    assert answer["value"] is False, "the other process still accepts the revoked key"


@pytest.mark.django_db(transaction=True)
def test_a_model_switched_off_in_one_process_is_refused_by_another_at_once(
    shared_redis, other_process, workspace, members
):
    _openai_credentials(workspace, 1)
    probe = {"probe": "model", "workspace": workspace.pk, "model": "openai/gpt-4o-mini"}
    assert other_process.ask(probe) == "ok"

    model_set_enabled(
        workspace=workspace,
        provider_key="openai",
        model_name="gpt-4o-mini",
        model_type="llm",
        enabled=False,
        acting_user=members["owner"].user,
    )

    answer = other_process.after_change(probe, "ModelUnavailable", "a model switched off")
    assert answer["value"] == "ModelUnavailable", "the other process still serves the model"


@pytest.mark.django_db(transaction=True)
def test_a_pool_turned_off_in_one_process_stops_balancing_in_another_at_once(
    shared_redis, other_process, workspace, members, pro_plan
):
    workspace.plan = pro_plan
    workspace.save()
    owner = members["owner"].user
    ref = ModelRef("openai", "gpt-4o-mini", "llm")
    for credential in _openai_credentials(workspace, 2):
        pool_entry_add(workspace=workspace, ref=ref, credential=credential, acting_user=owner)
    pool_set_enabled(workspace=workspace, ref=ref, enabled=True, acting_user=owner)
    probe = {"probe": "route", "workspace": workspace.pk, "provider": "openai"}
    probe |= {"name": ref.name, "type": ref.type}
    assert other_process.ask(probe) is not None  # balanced by the pool, cached there

    pool_set_enabled(workspace=workspace, ref=ref, enabled=False, acting_user=owner)

    answer = other_process.after_change(probe, None, "a pool turned off")
    assert answer["value"] is None, "the other process still routes through the pool"


def test_with_redis_down_a_change_elsewhere_is_seen_after_the_lifetime_and_health_says_so(
    client, db, settings, workspace, members
):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.EMBEDDED_MODE = False
    settings.API_KEY_CACHE_SECONDS = 0.5
    settings.HEALTH_WORKER_CACHE_SECONDS = 3600
    new = api_key_create(workspace=workspace, name="app", acting_user=members["owner"].user)
    assert api_key_authenticate(new.secret) is not None  # no Redis: no error either

    # Another process revokes it; with Redis down nothing can tell this one.
    ApiKey.objects.filter(pk=new.api_key.pk).update(revoked_at=timezone.now())
    assert api_key_authenticate(new.secret) is not None  # trusted for the lifetime
    time.sleep(0.6)
    assert api_key_authenticate(new.secret) is None

    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["config_cache"] == "ttl"


def test_health_says_the_configuration_cache_is_shared_while_redis_answers(
    client, db, settings, private_redis
):
    settings.REDIS_URL = private_redis.url
    settings.EMBEDDED_MODE = False
    settings.HEALTH_WORKER_CACHE_SECONDS = 3600
    assert client.get(reverse("healthz")).json()["config_cache"] == "shared"
    private_redis.kill()
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["config_cache"] == "ttl"
    private_redis.start()
    assert client.get(reverse("healthz")).json()["config_cache"] == "shared"


# -- one load per key at a time ------------------------------------------------------------------


def _burst(cache: ConfigCache, load, *, callers: int = 8) -> list:
    """`callers` threads miss the same key while the first one's load is under way; their
    answers (values, or the exceptions raised)."""
    answers = []

    def ask() -> None:
        try:
            answers.append(cache.get_or_load("key", load, workspace_id=1))
        except Exception as exc:
            answers.append(exc)

    first = threading.Thread(target=ask)
    first.start()
    assert load.started.wait(5)
    others = [threading.Thread(target=ask) for _ in range(callers - 1)]
    for thread in others:
        thread.start()
    time.sleep(0.2)  # the others have missed and wait for the first load
    load.release.set()
    for thread in [first, *others]:
        thread.join(5)
    return answers


class SlowLoad:
    """A load that waits until released; counts its calls; the first may fail."""

    def __init__(self, *, first_fails: bool = False):
        self.calls = 0
        self.first_fails = first_fails
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> str:
        self.calls += 1
        call = self.calls
        self.started.set()
        self.release.wait(5)
        if self.first_fails and call == 1:
            raise LookupError("the first load failed")
        return f"value {call}"


@pytest.fixture
def burst_cache(settings):
    settings.REDIS_URL = ""
    settings.LOAD_BALANCING_CONFIG_CACHE_SECONDS = 60
    return ConfigCache(
        "burst",
        depends_on=(ConfigKind.POOLS,),
        seconds_setting="LOAD_BALANCING_CONFIG_CACHE_SECONDS",
        size_setting="CONFIG_CACHE_SIZE",
    )


def test_a_burst_of_misses_loads_the_rows_once_and_shares_them(burst_cache):
    load = SlowLoad()
    answers = _burst(burst_cache, load)
    assert load.calls == 1
    assert answers == ["value 1"] * 8


def test_when_the_shared_load_fails_each_waiting_caller_loads_for_itself(burst_cache):
    load = SlowLoad(first_fails=True)
    answers = _burst(burst_cache, load, callers=3)
    assert load.calls == 3
    assert sum(isinstance(a, LookupError) for a in answers) == 1
    assert sorted(a for a in answers if isinstance(a, str)) == ["value 2", "value 3"]


def test_a_caller_after_a_change_does_not_share_a_load_begun_before_it(burst_cache, db):
    load = SlowLoad()
    answers = []

    def ask() -> None:
        answers.append(burst_cache.get_or_load("key", load, workspace_id=1))

    first = threading.Thread(target=ask)
    first.start()
    assert load.started.wait(5)
    config_changed(1, ConfigKind.POOLS)  # committed at once: no transaction here
    second = threading.Thread(target=ask)
    second.start()
    time.sleep(0.2)
    assert load.calls == 2  # the second caller loads the changed rows itself, not waiting
    load.release.set()
    first.join(5)
    second.join(5)
    assert sorted(answers) == ["value 1", "value 2"]


# -- one question to Redis per workspace and interval ----------------------------------------------


def test_the_caches_of_one_workspace_share_one_question_to_redis(shared_redis, settings):
    """A gateway call reads several caches of its workspace (its key, its model, its route);
    once the check interval has passed, the first of them asks Redis for the counters of all,
    and the others find theirs fresh."""
    settings.CONFIG_CACHE_CHECK_SECONDS = 60
    settings.LOAD_BALANCING_CONFIG_CACHE_SECONDS = 60
    caches = [
        ConfigCache(
            f"cache-{index}",
            depends_on=kinds,
            seconds_setting="LOAD_BALANCING_CONFIG_CACHE_SECONDS",
            size_setting="CONFIG_CACHE_SIZE",
        )
        for index, kinds in enumerate(
            [
                (ConfigKind.KEYS,),
                (ConfigKind.MODELS, ConfigKind.PREFERENCES, ConfigKind.SYSTEM_OFFERS),
                (ConfigKind.CREDENTIALS, ConfigKind.POOLS, ConfigKind.SYSTEM_OFFERS),
            ]
        )
    ]
    workspace_id = int.from_bytes(os.urandom(4))  # no counter of it is known yet
    questions = redis.Redis.from_url(shared_redis)

    def asked() -> int:
        return questions.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0)

    before = asked()
    values = [
        cache.get_or_load("key", lambda: "rows", workspace_id=workspace_id) for cache in caches
    ]
    assert values == ["rows"] * 3
    assert asked() - before == 1
