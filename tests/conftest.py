"""Shared fixtures: a workspace with one user per role, logged-in clients, real Redis."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test import Client

from api_keys.services import api_key_create
from tests.factories import CredentialFactory, MembershipFactory, WorkspaceFactory
from workspaces.models import Role

pytest_plugins = ["tests.fakes.fixtures", "tests.production_server"]

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(reason: str) -> None:
    """A missing PostgreSQL/Redis fails the run under CI=true and is a clear skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing():
    """PBKDF2's deliberate slowness buys nothing in tests; the real hasher runs in production."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def usage_written_during_calls():
    """A test sees a call's usage record as soon as the call returns; the batched background
    writer production uses has its own tests (tests/invocation/test_usage.py)."""
    from django.conf import settings

    settings.USAGE_WRITE_INTERVAL = 0


@pytest.fixture(autouse=True)
def fresh_cache():
    """Rate-limit counters of an earlier test (same workspace ids) must not carry over."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def fresh_routing_state():
    """Each test starts with no cooldowns, counts or cached routes of an earlier test (ids
    are reused after a rollback, so stale state could otherwise match a new pool)."""
    from balancing import runtime
    from workspaces.config_cache import config_forget_all

    runtime.reset()
    config_forget_all()
    yield
    runtime.reset()
    config_forget_all()


@pytest.fixture
def workspace(db):
    return WorkspaceFactory(name="Acme", slug="acme")


@pytest.fixture
def pro_plan(db):
    """The paid plan (created by a migration; recreated here because transactional tests
    flush every table, migration data included)."""
    from workspaces.models import Plan
    from workspaces.plans import ensure_default_plans

    ensure_default_plans(Plan)
    return Plan.objects.get(slug="pro")


@pytest.fixture
def members(workspace):
    """One membership per role in `workspace`, keyed by role value."""
    return {
        role.value: MembershipFactory(
            workspace=workspace, role=role, user__email=f"{role.value}@acme.test"
        )
        for role in Role
    }


@pytest.fixture
def client_for(members):
    """client_for("admin") is a client logged in as the workspace's admin."""

    def make(role: str) -> Client:
        client = Client()
        client.force_login(members[role].user)
        return client

    return make


@pytest.fixture
def openai_key(workspace, fake_providers):
    """The workspace's default OpenAI credential, answered by the fake OpenAI."""
    return CredentialFactory(
        workspace=workspace,
        name="prod-key",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-1"}),
        config={"base_url": fake_providers.base_url("openai")},
    )


@pytest.fixture
def api_key(workspace, members):
    """A fresh API key of the workspace (its secret), created by the member."""
    return api_key_create(workspace=workspace, name="app", acting_user=members["member"].user)


@pytest.fixture
def bearer(api_key):
    return {"Authorization": f"Bearer {api_key.secret}"}


@pytest.fixture
def other_workspace(db):
    """A second workspace with its own admin, whose ids must never leak into `workspace`."""
    other = WorkspaceFactory(name="Other", slug="other")
    owner = MembershipFactory(workspace=other, role=Role.OWNER, user__email="owner@other.test")
    admin = MembershipFactory(workspace=other, role=Role.ADMIN, user__email="admin@other.test")
    return {"workspace": other, "owner": owner, "admin": admin}


@pytest.fixture
def redis_url() -> str:
    """The real Redis server's URL (a scratch database), flushed before and after the test."""
    import redis

    url = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        require_service(f"Redis is not reachable at {url}")
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def postgres(db):
    """Marks a test that needs PostgreSQL semantics (row locks across real connections)."""
    if connection.vendor != "postgresql":
        require_service(
            "needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1"
            ":5432/test (CI does)"
        )


@contextmanager
def celery_configured(**conf):
    """Point the Celery app at another broker (or off eager mode) for one test, then restore.

    Celery reads its configuration once; its connection pools are rebuilt here so the change
    takes effect, the way a forked worker rebuilds them.
    """
    from config.celery import app

    saved = {key: app.conf[key] for key in conf}

    def reset_pools():
        from kombu import pools

        pools.reset()  # kombu's process-wide pools, keyed by connection
        app._after_fork()

    app.conf.update(conf)
    reset_pools()
    try:
        yield app
    finally:
        app.conf.update(saved)
        reset_pools()


@pytest.fixture
def queued_only():
    """Tasks go to an in-memory queue that no worker consumes (a worker that never comes)."""
    with celery_configured(task_always_eager=False, broker_url="memory://"):
        yield


@pytest.fixture
def broker_down():
    """The broker is unreachable: nothing listens on port 1."""
    with celery_configured(task_always_eager=False, broker_url="redis://127.0.0.1:1/0"):
        yield


def shared_database_url() -> str:
    """The test database's URL, for another process (a worker, a second web process) that
    must see the rows this test writes (SQLite's file, or PostgreSQL's test database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_celery_worker(broker: str, log_path, *, fake_port: int, name: str, **extra_env):
    """A Celery worker process (solo pool) on `broker`, sharing the test database and the
    fake providers, logging to `log_path`; `extra_env` adds environment variables."""
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": shared_database_url(),
        "REDIS_URL": broker,
        "PROVIDER_URL_ALLOWLIST": f"127.0.0.1:{fake_port}",
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "SECRET_KEY": settings.SECRET_KEY,
        "VAR_DIR": str(settings.VAR_DIR),
        **extra_env,
    }
    with open(log_path, "ab") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{name}@%h",
            ],
            cwd=Path(__file__).resolve().parents[1],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, fake_provider_server, tmp_path_factory):
    """A real Celery worker process on the real Redis, sharing the test database.

    Tests using it need `@pytest.mark.django_db(transaction=True)` so the worker sees their
    rows. Yields the Celery app, configured to publish to that Redis.
    """
    import subprocess
    import time

    import redis

    base = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
    broker = base.rsplit("/", 1)[0] + "/14"  # its own database: `redis_url` flushes 15
    try:
        redis.Redis.from_url(broker, socket_connect_timeout=1).flushdb()
    except redis.RedisError:
        require_service(f"Redis is not reachable at {broker}")

    log_path = tmp_path_factory.mktemp("worker") / "celery-worker.log"
    worker = start_celery_worker(
        broker, log_path, fake_port=fake_provider_server.port, name=f"test-{os.getpid()}"
    )
    try:
        with celery_configured(
            broker_url=broker, result_backend=broker, task_always_eager=False
        ) as app:
            deadline = time.monotonic() + 60
            while not app.control.ping(timeout=0.5):
                if worker.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the Celery worker did not start:\n{log_path.read_text()}")
            yield app
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
