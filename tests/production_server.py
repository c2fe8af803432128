"""The app as production serves it, for tests that need the real server process rather than
Django's test client or pytest-django's `live_server` (a threaded WSGI server): the Procfile's
`web` command (`gunicorn config.wsgi -c config/gunicorn.py`, the gevent worker) started on the
test database, and what a test reads of it (/healthz, the worker's open files).

`run_production_server()` is the context manager; the `production_server` fixture (loaded by
tests/conftest.py's `pytest_plugins`) starts one for a test, `production_server(allow=...,
**env)`, and stops it after. The process shares the test
database (`shared_database_url`), so tests mark themselves
`@pytest.mark.django_db(transaction=True)`: it sees only committed rows. It runs one worker
(`WEB_CONCURRENCY=1`) unless told otherwise, so /healthz always answers for the same process.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from django.conf import settings

from tests.benchmarks.stack import free_port, start_procfile
from tests.conftest import shared_database_url

START_SECONDS = 30.0
T = TypeVar("T")


@dataclass
class ProductionServer:
    process: subprocess.Popen  # gunicorn's master; its worker answers the requests
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        body: dict | None = None,
        timeout: float = 10,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a connection of its own: (status, headers, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            content = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, content
        finally:
            connection.close()

    def get(self, path: str, key: str | None = None, timeout: float = 10) -> tuple[int, dict]:
        status, _, content = self.request("GET", path, key=key, timeout=timeout)
        return status, json.loads(content)

    def health(self, timeout: float = 10) -> dict:
        return self.get("/healthz", timeout=timeout)[1]

    def worker_pid(self) -> int:
        return self.health()["streams"]["pid"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def eventually(condition: Callable[[], T], *, timeout: float, what: str) -> T:
    """`condition()`'s first true value, asked every 0.1 s; fails the test after `timeout`
    seconds. What the server does off the request path (its usage writer writes records every
    half second) is waited for so, never with a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def quiet(server: ProductionServer, *, interval: float, timeout: float = 10) -> None:
    """Until `server` has no stream open and its usage writer has written what it had: no new
    record for three of its write intervals in a row (`interval`: the USAGE_WRITE_INTERVAL it
    runs with)."""
    from invocation.models import UsageRecord

    eventually(
        lambda: server.health()["streams"]["open"] == 0, timeout=timeout, what="no open stream"
    )
    deadline = time.monotonic() + timeout
    last, same = UsageRecord.objects.count(), 0
    while same < 3:
        time.sleep(interval)
        count = UsageRecord.objects.count()
        same = same + 1 if count == last else 0
        last = count
        if time.monotonic() > deadline:
            pytest.fail(f"the server kept writing usage records for {timeout:g} s")


def open_files(pid: int) -> int:
    """How many file descriptors the process holds (sockets, pipes, files)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def open_files_by_kind(pid: int) -> dict[str, int]:
    """The process's file descriptors by what they are (a TCP socket by its remote port), to
    say what leaked when a count does not come back."""
    peers = {}
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            peers[fields[9]] = f"tcp to :{int(fields[2].rsplit(':', 1)[1], 16)}"
    kinds: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            kinds[peers.get(target[8:-1], "socket")] += 1
        else:
            kinds[target.split(":", 1)[0] if ":" in target else "file"] += 1
    return dict(kinds.most_common())


@contextmanager
def run_production_server(
    *, log_dir: Path, allow: Iterable[str] = (), **env: str
) -> Iterator[ProductionServer]:
    """gunicorn as the Procfile starts it, on a free loopback port and the test database, one
    worker; `allow` lists the host:port of fake providers on loopback (which the outbound guard
    refuses otherwise); `env` sets more of the environment (REDIS_URL: none unless given, so
    embedded mode). Yields once /healthz answers; stops the server after."""
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    environment.update(
        {
            "DATABASE_URL": shared_database_url(),
            "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
            "SECRET_KEY": settings.SECRET_KEY,
            "VAR_DIR": str(settings.VAR_DIR),
            "PROVIDER_URL_ALLOWLIST": ",".join(allow),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": "1",
            "GUNICORN_GRACEFUL_TIMEOUT": "1",
            "LOG_LEVEL": "WARNING",
            **env,
        }
    )
    log_path = log_dir / f"gunicorn-{port}.log"
    with log_path.open("wb") as log:  # the server keeps its own handle
        process = start_procfile("web", environment, stdout=log, stderr=subprocess.STDOUT)
    server = ProductionServer(process, port, log_path)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert process.poll() is None, f"gunicorn exited:\n{server.log()}"
            try:
                server.health(timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, f"gunicorn did not come up:\n{server.log()}"
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def production_server(tmp_path, transactional_db):
    """`production_server(allow=[...], **env)` starts the server (`run_production_server`),
    logging under the test's tmp_path; every server started is stopped after the test, before
    the test database is emptied (the server's own writes would race the flush: a deadlock)."""
    with ExitStack() as started:

        def start(*, allow: Iterable[str] = (), **env: str) -> ProductionServer:
            server = run_production_server(log_dir=tmp_path, allow=allow, **env)
            return started.enter_context(server)

        yield start
