"""Faults under load, with real parts: Redis stopped while the gateway serves a steady load,
and a Celery worker killed while it validates a credential."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.urls import reverse

from api_keys.services import api_key_create
from balancing.runtime import get_router
from balancing.services import ModelRef, pool_entry_add, pool_set_enabled
from credentials.models import Credential, PendingValidation, ValidationStatus
from tests.conftest import celery_configured, require_service, start_celery_worker
from tests.factories import CredentialFactory
from tests.faults import in_thread

ROOT = Path(__file__).resolve().parents[1]
LOAD_SECONDS = 30


@pytest.mark.django_db(transaction=True)
def test_redis_stopped_during_gateway_load_fails_no_request(
    live_server, settings, private_redis, workspace, members, pro_plan, fake_providers
):
    settings.REDIS_URL = private_redis.url
    settings.EMBEDDED_MODE = False
    settings.HEALTH_WORKER_CACHE_SECONDS = 3600
    get_router().retry_seconds = 1  # notice Redis's return within a second
    workspace.plan = pro_plan
    workspace.save()
    owner = members["owner"].user
    ref = ModelRef("openai", "gpt-4o-mini", "llm")
    for index in range(2):
        credential = CredentialFactory(
            workspace=workspace,
            name=f"key-{index}",
            is_default=index == 0,
            secret_data=json.dumps({"api_key": f"sk-test-valid-{index}"}),
            config={"base_url": fake_providers.base_url("openai")},
        )
        pool_entry_add(workspace=workspace, ref=ref, credential=credential, acting_user=owner)
    pool_set_enabled(workspace=workspace, ref=ref, enabled=True, acting_user=owner)
    key = api_key_create(workspace=workspace, name="load", acting_user=owner).secret

    statuses: list[int] = []
    routing: list[tuple[float, str]] = []
    stop = time.monotonic() + LOAD_SECONDS
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}]}

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            response = session.post(
                f"{live_server.url}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
            statuses.append(response.status_code)

    def watch() -> None:
        while time.monotonic() < stop:
            health = requests.get(f"{live_server.url}/healthz", timeout=10).json()
            routing.append((stop - time.monotonic(), health["routing"]))
            time.sleep(0.5)

    threads = [threading.Thread(target=client) for _ in range(4)]
    threads.append(threading.Thread(target=watch))
    for thread in threads:
        thread.start()
    time.sleep(LOAD_SECONDS / 3)
    private_redis.kill()
    time.sleep(LOAD_SECONDS / 3)
    private_redis.start()
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 30)

    assert len(statuses) > 100
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    modes = [mode for _, mode in routing]
    assert modes[0] == "shared"
    assert "local" in modes  # went local while Redis was down…
    assert modes[-1] == "shared"  # …and came back with it
    first_local = modes.index("local")
    assert "shared" in modes[first_local:]


# -- a worker killed mid-validation ------------------------------------------------------------


def start_worker(broker: str, log_path: Path, fake_port: int) -> subprocess.Popen:
    return start_celery_worker(
        broker,
        log_path,
        fake_port=fake_port,
        name=f"fault-{os.getpid()}-{time.monotonic_ns()}",
        CELERY_VISIBILITY_TIMEOUT="3",  # redeliver a dead worker's task within seconds
    )


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_validation_times_out_and_saves_nothing_later(
    settings, workspace, client_for, fake_providers, fake_provider_server, tmp_path
):
    import redis

    base = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
    broker = base.rsplit("/", 1)[0] + "/12"
    try:
        redis.Redis.from_url(broker, socket_connect_timeout=1).flushdb()
    except redis.RedisError:
        require_service(f"Redis is not reachable at {broker}")
    settings.CREDENTIAL_VALIDATION_TIMEOUT = 4
    fake_provider_server.hang_seconds = 6  # longer than the page waits
    log_path = tmp_path / "worker.log"
    worker = start_worker(broker, log_path, fake_provider_server.port)
    try:
        with celery_configured(broker_url=broker, result_backend=broker, task_always_eager=False):
            from config.celery import app

            wait_for(lambda: app.control.ping(timeout=0.5), 60, "the worker to start")
            admin = client_for("admin")
            admin.post(
                reverse("credential-create", args=["openai"]),
                {
                    "name": "Hanging",
                    "api_key": "hang",
                    "base_url": fake_providers.base_url("openai"),
                },
            )
            pending = PendingValidation.objects.get()
            wait_for(
                lambda: PendingValidation.objects.filter(
                    pk=pending.pk, status=ValidationStatus.RUNNING
                ).exists(),
                20,
                "the worker to start validating",
            )
            worker.kill()  # SIGKILL mid-validation: no chance to report anything
            worker.wait(timeout=10)

            detail = reverse("validation-detail", args=[pending.pk])
            page = wait_for(
                lambda: (
                    (r := admin.get(detail, headers={"HX-Request": "true"})).status_code == 286
                    and r
                ),
                20,
                "the page to say how the validation ended",
            )
            assert "timed out" in page.content.decode().lower()
            assert not Credential.objects.exists()

            # A new worker gets the dead worker's task again (acks late) and saves nothing.
            fake_provider_server.hang_seconds = 0.1
            restarted = start_worker(broker, log_path, fake_provider_server.port)
            try:
                wait_for(
                    lambda: (
                        log_path.read_text().count("validate_credential") >= 2
                        and "succeeded" in log_path.read_text().split("validate_credential")[-1]
                    ),
                    40,
                    "the redelivered task to run",
                )
            finally:
                restarted.kill()
                restarted.wait(timeout=10)
            assert not Credential.objects.exists()
            pending.refresh_from_db()
            assert pending.status == ValidationStatus.EXPIRED
            assert pending.secret_payload is None
    finally:
        if worker.poll() is None:
            worker.kill()


# -- PostgreSQL restarting -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_database_restart_gives_clean_errors_and_the_app_recovers_by_itself(
    live_server, postgres, workspace, members, openai_key_for_faults
):
    """Every open connection of the app is cut and new ones are refused for a while, as while
    PostgreSQL restarts; the gateway and health answer clean JSON errors, pages the designed
    error page, and once the database is back everything works again without a restart."""
    from tests.faults import database_refusing_connections

    owner = members["owner"].user
    key = api_key_create(workspace=workspace, name="restart", acting_user=owner).secret
    auth = {"Authorization": f"Bearer {key}"}
    session = requests.Session()
    assert session.get(f"{live_server.url}/v1/models", headers=auth, timeout=10).ok

    with database_refusing_connections():
        with connection.cursor() as cursor:  # the restart: every other connection is cut
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        models = session.get(f"{live_server.url}/v1/models", headers=auth, timeout=10)
        health = session.get(f"{live_server.url}/healthz", timeout=10)
        page = session.get(f"{live_server.url}/login/", timeout=10)
    assert models.status_code == 503
    assert models.json()["error"]["code"] == "service_unavailable"
    assert health.status_code == 503 and health.json()["database"] == "unreachable"
    assert page.status_code in (200, 500)  # the login page needs no database…
    if page.status_code == 500:  # …and if it did, the designed page, not a traceback
        assert "Traceback" not in page.text

    for _ in range(20):  # back: the next requests reconnect on their own
        recovered = session.get(f"{live_server.url}/v1/models", headers=auth, timeout=10)
        if recovered.ok:
            break
        time.sleep(0.2)
    assert recovered.status_code == 200
    assert session.get(f"{live_server.url}/healthz", timeout=10).status_code == 200


@pytest.fixture
def openai_key_for_faults(workspace, fake_providers):
    return CredentialFactory(
        workspace=workspace,
        name="prod-key",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-1"}),
        config={"base_url": fake_providers.base_url("openai")},
    )


# -- upstream faults ----------------------------------------------------------------------------


@pytest.fixture
def faulty_pool(workspace, members, pro_plan, fake_providers, short_provider_timeouts):
    """A pool of a faulty credential (its base URL's scenario) and a good one."""

    def make(scenario: str):
        workspace.plan = pro_plan
        workspace.save()
        owner = members["owner"].user
        ref = ModelRef("openai", "gpt-4o-mini", "llm")
        urls = [fake_providers.base_url("openai", scenario), fake_providers.base_url("openai")]
        for index, url in enumerate(urls):
            credential = CredentialFactory(
                workspace=workspace,
                name=f"{'faulty' if index == 0 else 'good'}-key",
                is_default=index == 0,
                secret_data=json.dumps({"api_key": f"sk-test-valid-{index}"}),
                config={"base_url": url},
            )
            pool_entry_add(workspace=workspace, ref=ref, credential=credential, acting_user=owner)
        pool_set_enabled(workspace=workspace, ref=ref, enabled=True, acting_user=owner)
        return api_key_create(workspace=workspace, name="faults", acting_user=owner).secret

    return make


def app_threads() -> int:
    """Threads of the app (the fake providers' own request threads do not count)."""
    return sum(1 for t in threading.enumerate() if "process_request_thread" not in (t.name or ""))


@pytest.mark.parametrize("scenario", ["hang", "reset", "error500", "malformed", "slow"])
def test_upstream_faults_fail_over_in_bounded_time_without_leaking_threads(
    client, faulty_pool, scenario, fake_providers
):
    key = faulty_pool(scenario)
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    threads_before = app_threads()
    for _ in range(6):
        started = time.monotonic()
        response = client.post(
            "/v1/chat/completions",
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 200, response.content
        assert response.json()["choices"][0]["message"]["content"] == "You said: Hi"
        assert time.monotonic() - started < 5  # a hang costs at most the 1 s read timeout
    assert app_threads() <= threads_before  # nothing of ours left running
    tried = [r.path for r in fake_providers.requests if r.path.endswith("/chat/completions")]
    assert any(f"/s/{scenario}/" in path for path in tried), tried  # the faulty one was tried


def test_after_a_database_restart_the_pool_finds_its_dead_connections_at_once(postgres):
    """Every idle pooled connection dies in a restart; the next request gets a new one at once
    instead of trying the dead ones one by one with growing pauses (workspaces/db_pool.py)."""
    pool = connection.pool
    if pool is None:
        pytest.skip("no pool: DATABASE_POOL_MAX_SIZE=0")
    in_thread(lambda: connection.ensure_connection())  # the app has used this pool
    idle = [pool.getconn() for _ in range(5)]
    for conn in idle:
        pool.putconn(conn)
    with connection.cursor() as cursor:  # the restart: every other connection is cut
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    started = time.monotonic()
    conn = pool.getconn()
    try:
        conn.execute("SELECT 1")
    finally:
        pool.putconn(conn)
    assert time.monotonic() - started < 1.5  # not 1 + 2 + 4 s of pauses, nor a timeout
