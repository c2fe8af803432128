"""The floor for the gateway benchmark: a WSGI app that only forwards each request to the
upstream (one shared urllib3 pool, no Django, no checks), served by the same gunicorn
configuration. Its overhead over direct is what one extra Python HTTP hop costs on the machine;
the gateway's own cost is what it adds on top.

    UPSTREAM=http://127.0.0.1:PORT gunicorn tests.benchmarks.floor_proxy -c config/gunicorn.py
"""

from __future__ import annotations

import os

import urllib3

_pool = urllib3.PoolManager(maxsize=64, retries=False)
_upstream = os.environ["UPSTREAM"]


def application(environ, start_response):
    body = environ["wsgi.input"].read()
    answer = _pool.request(
        "POST",
        f"{_upstream}/v1/chat/completions",
        body=body,
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-bench-0"},
    )
    start_response(
        f"{answer.status} OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(answer.data)))],
    )
    return [answer.data]
