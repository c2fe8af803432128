"""Faults with real parts. The gateway's run against the production server process (gunicorn as
the Procfile starts it, one gevent worker) with 1,000 streams open: Redis killed, the upstream
hanging or resetting every stream, the database cut; after each, the worker's file descriptors
and greenlets return to their baseline. Also: a Celery worker killed while it validates a
credential, upstream faults failing over in bounded time (against the production server too)
and the database pool after a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from api_keys.services import api_key_create
from balancing.services import ModelRef, pool_entry_add, pool_set_enabled
from credentials.models import Credential, PendingValidation, ValidationStatus
from invocation.models import UsageRecord
from tests.benchmarks.stack import free_port, raise_file_limit
from tests.conftest import celery_configured, require_service, start_celery_worker
from tests.factories import CredentialFactory
from tests.faults import database_refusing_connections, in_thread
from tests.production_server import (
    ProductionServer,
    eventually,
    open_files,
    open_files_by_kind,
    quiet,
    run_production_server,
)

ROOT = Path(__file__).resolve().parents[1]


# -- the gateway under load: 1,000 open streams through the production server ------------------
#
# gunicorn as the Procfile starts it (one gevent worker), a workspace whose credentials point at
# an asyncio fake OpenAI streaming STREAMS_CHUNKS chunks STREAMS_INTERVAL apart
# (tests/benchmarks/stream_upstream.py, its own process), and STREAMS clients opened within
# RAMP seconds by the benchmark's load generator (stream_load.py, its own process, raw sockets),
# each checking its stream carried the whole text. While they are open a fault strikes; then
# the worker's file descriptors and greenlets must return to what they were before the load.
#
# The worker's connection caches are pinned to what the warm-up fills, so that its count of
# open files measures leaks, not caches that a burst fills by design: one idle connection to
# the provider (PROVIDER_CONNECTIONS_PER_HOST; production keeps up to GATEWAY_MAX_STREAMS warm
# after a burst), two per Redis client (REDIS_MAX_CONNECTIONS, 20 in production) and a database
# pool of exactly four (DATABASE_POOL_MIN_SIZE/MAX_SIZE, 2 to 20: idle ones close after 5 min).

STREAMS = 1000
STREAMS_CHUNKS = 10
STREAMS_INTERVAL = 0.6  # seconds: a stream lasts about 6 s, so all are open together
RAMP = 1.5
CLIENT_TIMEOUT = 60.0  # a stream the load generator gives up on counts as a hang
BASELINE_TOLERANCE = 5
SETTLE_SECONDS = 10.0


class StreamUpstream:
    """The asyncio fake OpenAI (its own process), which can hang or reset its open streams."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.stream_upstream", str(self.port)]
            + [str(STREAMS_CHUNKS), str(STREAMS_INTERVAL)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=(log_dir / "stream-upstream.log").open("wb"),
            text=True,
        )
        assert self.process.stdout.readline().strip() == "ready"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def strike(self, fault: str) -> int:
        """Hang or reset every stream in progress; how many it hit."""
        self.process.send_signal(signal.SIGUSR1 if fault == "hang" else signal.SIGUSR2)
        done, count = self.process.stdout.readline().split()
        assert done == {"hang": "hung", "reset": "reset"}[fault]
        return int(count)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


class StreamLoad:
    """STREAMS streamed chat completions through the gateway from the load generator's process;
    `result()` waits for its figures: completed, timeouts, and errors by what went wrong."""

    def __init__(self, server: ProductionServer, key: str, *, streams: int = STREAMS):
        config = {
            "mode": "streams",
            "n": streams,
            "chunks": STREAMS_CHUNKS,
            "timeout": CLIENT_TIMEOUT,
            "ramp": RAMP,
            "targets": [
                {
                    "name": "gateway",
                    "url": f"{server.url}/v1/chat/completions",
                    "key": key,
                    "model": "openai/gpt-4o-mini",
                }
            ],
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.stream_load", json.dumps(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self, timeout: float) -> dict:
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"the streams were not all over within {timeout:g} s: something hangs")
        assert self.process.returncode == 0, err[-3000:]
        return json.loads(out.strip().splitlines()[-1])


def one_token(server: ProductionServer, key: str) -> tuple[int, dict[str, str], bytes]:
    """A new client's short stream (one token), read to its end."""
    return server.request(
        "POST",
        "/v1/chat/completions",
        key=key,
        body={
            "model": "openai/gpt-4o-mini",
            "messages": [{"role": "user", "content": "Hello"}],
            "stream": True,
            "max_tokens": 1,
        },
    )


def served_whole(answer: tuple[int, dict[str, str], bytes]) -> bool:
    status, _, body = answer
    return status == 200 and b'"content":"w0 "' in body and body.endswith(b"data: [DONE]\n\n")


@dataclass(frozen=True)
class WorkerState:
    files: int
    greenlets: int

    def near(self, other: WorkerState) -> bool:
        return (
            abs(self.files - other.files) <= BASELINE_TOLERANCE
            and abs(self.greenlets - other.greenlets) <= BASELINE_TOLERANCE
        )


def worker_state(server: ProductionServer, pid: int) -> WorkerState:
    greenlets = server.health()["streams"]["greenlets"]
    return WorkerState(open_files(pid), greenlets)


class LoadedGateway:
    """The production server under test, its worker and what the worker held before the load."""

    def __init__(self, server: ProductionServer, key: str, upstream: StreamUpstream):
        self.server, self.key, self.upstream = server, key, upstream
        self.pid = server.worker_pid()
        # Warm up every path a stream takes (key, model, route, provider connection, the usage
        # writer's first write), then take the baseline once the worker is idle.
        for _ in range(3):
            assert served_whole(one_token(server, key))
        eventually(lambda: UsageRecord.objects.count() >= 3, timeout=5, what="warm-up records")
        self.baseline = eventually(self._steady, timeout=5, what="a steady worker")
        self.baseline_files = open_files_by_kind(self.pid)

    def _steady(self) -> WorkerState | None:
        first = worker_state(self.server, self.pid)
        time.sleep(0.2)
        second = worker_state(self.server, self.pid)
        return second if second == first else None

    def open_streams(self) -> StreamLoad:
        """STREAMS streams, once all are open: the worker counts them, and holds a connection
        to the upstream for each."""
        load = StreamLoad(self.server, self.key)
        upstream = f"tcp to :{self.upstream.port}"
        eventually(
            lambda: (
                self.server.health()["streams"]["open"] >= STREAMS
                and open_files_by_kind(self.pid).get(upstream, 0) >= STREAMS
            ),
            timeout=RAMP + 15,
            what=f"{STREAMS} open streams",
        )
        return load

    def assert_back_to_baseline(self) -> None:
        """Within SETTLE_SECONDS the worker holds as many files and greenlets as before the
        load (within BASELINE_TOLERANCE): nothing of the streams or the fault is left."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while not (now := worker_state(self.server, self.pid)).near(self.baseline):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the worker did not return to its baseline within {SETTLE_SECONDS:g} s: "
                    f"{now} against {self.baseline}; open files now "
                    f"{open_files_by_kind(self.pid)}, before {self.baseline_files}"
                )
            time.sleep(0.2)
        assert self.server.worker_pid() == self.pid  # the same worker: none was replaced


@pytest.fixture
def stream_upstream(tmp_path):
    upstream = StreamUpstream(tmp_path)
    yield upstream
    upstream.stop()


@pytest.fixture
def loaded_gateway(production_server, stream_upstream, workspace, members, pro_plan):
    """`loaded_gateway(credentials=1, **env)`: the production server (one worker, room for
    STREAMS streams, counting its greenlets) whose workspace streams from `stream_upstream`
    through `credentials` credentials (a load-balanced pool when more than one), warmed up,
    with its baseline taken."""

    def start(*, credentials: int = 1, **env: str) -> LoadedGateway:
        raise_file_limit()  # the server inherits it: two sockets a stream
        workspace.plan = pro_plan
        workspace.save()
        owner = members["owner"].user
        ref = ModelRef("openai", "gpt-4o-mini", "llm")
        for index in range(credentials):
            credential = CredentialFactory(
                workspace=workspace,
                name=f"key-{index}",
                is_default=index == 0,
                secret_data=json.dumps({"api_key": f"sk-stream-{index}"}),
                config={"base_url": stream_upstream.base_url},
            )
            if credentials > 1:
                pool_entry_add(
                    workspace=workspace, ref=ref, credential=credential, acting_user=owner
                )
        if credentials > 1:
            pool_set_enabled(workspace=workspace, ref=ref, enabled=True, acting_user=owner)
        key = api_key_create(workspace=workspace, name="load", acting_user=owner).secret
        server = production_server(
            allow=[f"127.0.0.1:{stream_upstream.port}"],
            GATEWAY_MAX_STREAMS=str(STREAMS + 200),
            HEALTHZ_COUNT_TASKS="true",
            PROVIDER_CONNECTIONS_PER_HOST="1",
            REDIS_MAX_CONNECTIONS="2",
            DATABASE_POOL_MIN_SIZE="4",
            DATABASE_POOL_MAX_SIZE="4",
            **env,
        )
        return LoadedGateway(server, key, stream_upstream)

    return start


@pytest.mark.django_db(transaction=True)
def test_redis_killed_under_load_fails_no_stream_and_the_worker_recovers(
    loaded_gateway, private_redis
):
    gateway = loaded_gateway(
        credentials=2,  # a pool: its round-robin lives in Redis
        REDIS_URL=private_redis.url,
        HEALTH_WORKER_CACHE_SECONDS="3600",  # no Celery worker to ping here
    )
    server, key = gateway.server, gateway.key
    health = server.health()
    assert (health["redis"], health["routing"], health["config_cache"]) == (
        "ok",
        "shared",
        "shared",
    )

    load = gateway.open_streams()
    private_redis.kill()
    down = eventually(
        lambda: (h := server.health())["redis"] == "unreachable" and h,
        timeout=5,
        what="/healthz to show Redis down",
    )
    assert down["status"] == "ok" and down["routing"] == "local"  # degraded, not down
    for _ in range(5):  # new clients are still served, routed process-local
        started = time.monotonic()
        assert served_whole(one_token(server, key))
        assert time.monotonic() - started < 2

    figures = load.result(timeout=STREAMS_CHUNKS * STREAMS_INTERVAL + RAMP + 20)
    assert figures["errors"] == {} and figures["timeouts"] == 0
    assert figures["completed"] == STREAMS  # every open stream carried its whole text

    private_redis.start()
    eventually(
        lambda: (h := server.health())["redis"] == "ok" and h["routing"] == "shared",
        timeout=10,
        what="routing to share its state through Redis again",
    )
    gateway.assert_back_to_baseline()


READ_TIMEOUT = 2.0  # PROVIDER_READ_TIMEOUT for these tests: how long a silent stream lasts


@pytest.mark.parametrize(
    ("fault", "code", "message"),
    [
        ("hang", "timeout", "Timed out: the stream stopped arriving"),
        ("reset", "upstream_error", "Provider error: the connection broke during the stream"),
    ],
    ids=["hang", "reset"],
)
@pytest.mark.django_db(transaction=True)
def test_an_upstream_hanging_or_resetting_under_load_ends_every_stream_with_an_error_event(
    loaded_gateway, fault, code, message
):
    gateway = loaded_gateway(PROVIDER_READ_TIMEOUT=str(READ_TIMEOUT))
    server, key = gateway.server, gateway.key

    load = gateway.open_streams()
    hit = gateway.upstream.strike(fault)
    struck = time.monotonic()
    assert hit >= STREAMS * 0.9  # (a stream whose request reached it later is served whole)

    # Every client hears of it within the read timeout (and the time to tell 1,000 clients):
    # an error event in OpenAI's shape ending a 200 stream, never an HTML page, never a hang.
    figures = load.result(timeout=READ_TIMEOUT + 15)
    assert time.monotonic() - struck < READ_TIMEOUT + 10
    assert figures["timeouts"] == 0
    assert figures["errors"] == {f"error event {code}: {message}": hit}
    assert figures["completed"] == STREAMS - hit
    assert served_whole(one_token(server, key))  # the next client is served as usual

    # Each stream's usage record says how it ended (written by the worker's usage writer).
    eventually(
        lambda: UsageRecord.objects.filter(outcome=code, stream=True).count() == hit,
        timeout=10,
        what=f"{hit} usage records of {code}",
    )
    gateway.assert_back_to_baseline()


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


KEY_CACHE_SECONDS = 5  # API_KEY_CACHE_SECONDS's default: the longest a key is trusted unread
POOL_TIMEOUT = 3  # DATABASE_POOL_TIMEOUT's default: a request's wait for a connection


@pytest.mark.django_db(transaction=True)
def test_the_database_cut_under_load_lets_open_streams_finish_and_new_calls_get_a_clean_503(
    loaded_gateway, postgres
):
    """Every connection of the server is cut and new ones refused, as while PostgreSQL
    restarts, with 1,000 streams open. The streams need no database and finish; their usage
    records wait in the worker's memory and are written once it is back. A new call is served
    while the caches it needs are warm (a warm /v1/ call touches no database), then answered
    with the JSON 503; health says the database is down; the app recovers by itself."""
    gateway = loaded_gateway()
    server, key = gateway.server, gateway.key
    written = UsageRecord.objects.count()

    load = gateway.open_streams()
    with database_refusing_connections():
        cut = time.monotonic()
        status, health = server.get("/healthz")
        assert status == 503 and health["database"] == "unreachable"
        while True:
            started = time.monotonic()
            answer = one_token(server, key)
            assert time.monotonic() - started < POOL_TIMEOUT + 2  # never a hang
            if answer[0] != 200:
                break
            assert served_whole(answer)
            assert time.monotonic() - cut < KEY_CACHE_SECONDS + POOL_TIMEOUT + 5, "still served"
            time.sleep(0.5)
        status, headers, body = answer
        assert status == 503 and headers["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"] == "service_unavailable"
        assert headers["retry-after"] == "5"
        page_status, _, page = server.request("GET", "/login/")
        assert page_status in (200, 500)  # the login page needs no database…
        assert b"Traceback" not in page  # …and if it did, the designed page

        figures = load.result(timeout=STREAMS_CHUNKS * STREAMS_INTERVAL + RAMP + 20)
        assert figures["errors"] == {} and figures["timeouts"] == 0
        assert figures["completed"] == STREAMS
        assert UsageRecord.objects.count() == written  # nothing could be written meanwhile

    eventually(lambda: server.get("/healthz")[0] == 200, timeout=15, what="health to recover")
    eventually(
        lambda: (
            UsageRecord.objects.filter(stream=True, outcome="success").count() >= written + STREAMS
        ),
        timeout=15,
        what="the usage records kept in memory to be written",
    )
    assert served_whole(one_token(server, key))
    gateway.assert_back_to_baseline()


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
def faulty_pool(workspace, members, pro_plan, fake_providers):
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


@pytest.fixture(scope="module")
def failover_server(django_db_setup, fake_provider_server, tmp_path_factory):
    """The production server for the upstream-fault cases (one for them all), with 1 s connect
    and read timeouts, counting its greenlets."""
    with run_production_server(
        log_dir=tmp_path_factory.mktemp("failover"),
        allow=[f"127.0.0.1:{fake_provider_server.port}"],
        PROVIDER_CONNECT_TIMEOUT="1",
        PROVIDER_READ_TIMEOUT="1",
        HEALTHZ_COUNT_TASKS="true",
        DATABASE_POOL_MIN_SIZE="4",
        DATABASE_POOL_MAX_SIZE="4",
        USAGE_WRITE_INTERVAL=str(FAILOVER_USAGE_INTERVAL),
    ) as server:
        yield server


FAILOVER_USAGE_INTERVAL = 0.05  # its usage records come soon, so `quiet` waits little


@pytest.mark.parametrize("scenario", ["hang", "reset", "error500", "malformed", "slow"])
@pytest.mark.django_db(transaction=True)
def test_upstream_faults_fail_over_in_bounded_time_without_leaking(
    failover_server, faulty_pool, scenario, fake_providers
):
    server = failover_server
    key = faulty_pool(scenario)
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    pid = server.worker_pid()
    before = worker_state(server, pid)
    for _ in range(6):
        started = time.monotonic()
        status, _, content = server.request("POST", "/v1/chat/completions", key=key, body=body)
        assert status == 200, content
        assert json.loads(content)["choices"][0]["message"]["content"] == "You said: Hi"
        assert time.monotonic() - started < 5  # a hang costs at most the 1 s read timeout
    eventually(  # nothing of the faulty calls left running or open in the worker
        lambda: worker_state(server, pid).near(before),
        timeout=SETTLE_SECONDS,
        what=f"the worker to return to {before}",
    )
    tried = [r.path for r in fake_providers.requests if r.path.endswith("/chat/completions")]
    assert any(f"/s/{scenario}/" in path for path in tried), tried  # the faulty one was tried
    # The server outlives the test: its usage records are written before the database is
    # emptied, whose TRUNCATE would otherwise race their insert.
    quiet(server, interval=FAILOVER_USAGE_INTERVAL)


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
