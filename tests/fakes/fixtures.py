"""Pytest fixtures for the fake provider APIs (load with `pytest_plugins`).

- `fake_provider_server` (session): the one FakeProviderServer, started once and shut down at
  the end of the session.
- `fake_providers` (function): that server, cleared (`reset()`), with the settings allow-list
  set to its loopback port (PROVIDER_URL_ALLOWLIST = ["127.0.0.1:PORT"]) for the test.
- `short_provider_timeouts` (function): 1 s connect and read timeouts, for hang and trickle
  tests.
- `private_redis` (function): a redis-server of the test alone, which it may kill and restart.
- `slow_upstream` (session): the port of an OpenAI-compatible chat stream that lasts about 2 s
  (tests/fakes/slow_stream.py).
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest

from tests.fakes.private_redis import private_redis  # noqa: F401 - a fixture, re-exported
from tests.fakes.providers import FakeProviderServer
from tests.fakes.slow_stream import SlowStream


@pytest.fixture(scope="session")
def fake_provider_server():
    server = FakeProviderServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def slow_upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowStream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_providers(fake_provider_server, settings):
    settings.PROVIDER_URL_ALLOWLIST = [f"127.0.0.1:{fake_provider_server.port}"]
    fake_provider_server.reset()
    yield fake_provider_server
    fake_provider_server.reset()


@pytest.fixture
def short_provider_timeouts(settings):
    settings.PROVIDER_CONNECT_TIMEOUT = 1.0
    settings.PROVIDER_READ_TIMEOUT = 1.0
    return settings


@pytest.fixture
def elsewhere(fake_providers, settings):
    """A second fake on its own port, allow-listed too: "another address" a credential could be
    repointed to, whose `requests` show whatever it was sent."""
    with FakeProviderServer() as server:
        settings.PROVIDER_URL_ALLOWLIST = [
            *settings.PROVIDER_URL_ALLOWLIST,
            f"127.0.0.1:{server.port}",
        ]
        yield server
