"""The production server's worker (config/gunicorn.py: gunicorn's gevent worker) patches the
standard library before it imports the app. In a process set up the same way
(`tests/fakes/gevent_worker.py`) the sync path waits without holding the process: provider
calls through the guarded urllib3 transport overlap, psycopg waits through the patched
`select`, locks are greenlet locks, Django keeps a database connection per greenlet (never
shared across requests), and the SSRF guard still refuses a private address."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gevent_worker_makes_the_sync_path_cooperative(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "PROVIDER_URL_ALLOWLIST")
    }
    env.update({"VAR_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"})
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakes.gevent_worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    findings = json.loads(done.stdout.strip().splitlines()[-1])
    assert findings["psycopg_wait"] != "wait_c"  # wait_c would block every greenlet
    assert findings["lock"].startswith("gevent")
    assert findings["connections_per_greenlet"] == 3  # two greenlets and the main one
    assert findings["private_refused"] is True
    assert findings["statuses"] == [200]
    # ten calls of 0.5 s each overlap: about 0.5 s in all, not 5 s one after another
    assert findings["elapsed"] < findings["calls"] * findings["delay"] / 3
