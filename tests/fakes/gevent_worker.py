"""What gunicorn's gevent worker does before serving, then checks that the sync path waits
cooperatively: `python -m tests.fakes.gevent_worker` prints one JSON object of findings
(tests/test_gevent_worker.py reads it).

The worker calls `gevent.monkey.patch_all()` right after the fork and only then imports the
app (config/gunicorn.py: no preload); this does the same, then imports `config.wsgi`.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402 - after the patching, as in the worker
import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from gevent.server import StreamServer  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import psycopg.waiting  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402

import config.wsgi  # noqa: E402, F401 - loads the app as gunicorn does
from upstream.errors import UnsafeURL  # noqa: E402
from upstream.transports.sync import fetch  # noqa: E402

DELAY = 0.5
CALLS = 10


def slow_answer(sock, address) -> None:
    """Reads a request, waits DELAY, answers 200 (a provider taking its time)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return
        data += chunk
    gevent.sleep(DELAY)
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    sock.close()


def connection_ids() -> list[int]:
    ids = []

    def note() -> None:
        ids.append(id(connections["default"]))

    gevent.joinall([gevent.spawn(note), gevent.spawn(note)])
    note()
    return ids


def refused(url: str) -> bool:
    try:
        fetch("GET", url)
    except UnsafeURL:
        return True
    return False


def main() -> None:
    server = StreamServer(("127.0.0.1", 0), slow_answer)
    server.start()
    port = server.server_port
    findings = {
        "psycopg_wait": psycopg.waiting.wait.__name__,
        "lock": type(threading.Lock()).__module__,
        "connections_per_greenlet": len(set(connection_ids())),
        # the SSRF guard runs inside the connection, on the patched resolver's answer
        "private_refused": refused(f"http://127.0.0.1:{port}/")
        and refused(f"http://localhost:{port}/"),
    }
    settings.PROVIDER_URL_ALLOWLIST = [f"127.0.0.1:{port}"]
    started = time.monotonic()
    calls = [gevent.spawn(fetch, "GET", f"http://127.0.0.1:{port}/") for _ in range(CALLS)]
    gevent.joinall(calls, raise_error=True)
    findings["statuses"] = sorted({call.value.status for call in calls})
    findings["calls"] = CALLS
    findings["delay"] = DELAY
    findings["elapsed"] = time.monotonic() - started
    server.stop()
    print(json.dumps(findings), flush=True)


if __name__ == "__main__":
    main()
