"""The floor for the gateway benchmarks: a WSGI app that only forwards each chat completion to
the upstream (one shared urllib3 pool, no Django, no checks), served by the same gunicorn
configuration as the gateway. Its overhead over direct is what one extra Python HTTP hop costs
on the machine; the gateway's own cost is what it adds on top.

A streamed request is forwarded as it arrives, and each event is parsed and encoded again:
the least a gateway that translates between APIs must do with every chunk.

    UPSTREAM=http://127.0.0.1:PORT gunicorn tests.benchmarks.floor_proxy -c config/gunicorn.py
"""

from __future__ import annotations

import json
import os

import urllib3

_pool = urllib3.PoolManager(maxsize=1000, retries=False)
_upstream = os.environ["UPSTREAM"]
_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-0"}


def application(environ, start_response):
    body = environ["wsgi.input"].read()
    stream = b'"stream":true' in body.replace(b" ", b"")
    answer = _pool.request(
        "POST",
        f"{_upstream}/v1/chat/completions",
        body=body,
        headers=_HEADERS,
        preload_content=not stream,
    )
    if not stream:
        start_response(
            f"{answer.status} OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(answer.data)))],
        )
        return [answer.data]
    start_response(f"{answer.status} OK", [("Content-Type", "text/event-stream")])
    return _events(answer)


def _events(answer):
    try:
        pending = b""
        for data in answer.stream(65536, decode_content=False):
            pending += data
            *events, pending = pending.split(b"\n\n")
            for event in events:
                payload = event.removeprefix(b"data: ")
                if payload == b"[DONE]":
                    yield b"data: [DONE]\n\n"
                else:
                    chunk = json.loads(payload)
                    yield b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
    finally:
        answer.release_conn()
