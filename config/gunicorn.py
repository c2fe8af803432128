"""gunicorn settings: `gunicorn config.wsgi -c config/gunicorn.py` (the Procfile, the systemd
unit and `make run`, which adds --reload, all start the app so).

Cooperative workers (gevent). A model call spends its time waiting for the provider, and a
streamed answer lasts 5 to 60 seconds; a thread per request would cap a process at its thread
count (issue 20: 64 streams at once on 2 cores, the rest queued). The gevent worker serves every
connection in a greenlet instead: it monkey-patches the standard library (socket, ssl, select,
threading, time.sleep, DNS) right after the fork and before it imports the app, so the whole
sync path waits without a thread: urllib3 and its SSRF guard, redis-py, psycopg 3 (which sees
the patched `select` when it is imported and waits through it), Django's sync views, streamed
responses, and the background "threads" (the usage writer, the pool stats flusher), which
become greenlets. Nothing here imports the app or Django: with `preload_app` the app would be
imported in the master before the patching and its locks and psycopg's waits would block.

Sizes (each from an environment variable):
- WEB_CONCURRENCY processes, one per CPU by default: a process uses one core at most;
- GUNICORN_WORKER_CONNECTIONS per process: GATEWAY_MAX_STREAMS (the streams a process holds
  open, 1000 by default; past it a stream gets 503 and Retry-After) plus 500 for everything
  else (pages, health checks, idle keep-alive connections, and room to answer those 503s);
- GUNICORN_KEEPALIVE (20 s): how long an idle client connection is kept for its next request;
- GUNICORN_GRACEFUL_TIMEOUT (120 s): on a stop, a restart or a recycle, how long a worker goes
  on serving its open streams (no new connections) before it is killed;
- GUNICORN_TIMEOUT (60 s): a worker whose event loop has not run for this long is stuck (a
  stream's length does not count: the loop beats while streams wait) and is replaced.
Each process holds about 2 file descriptors per stream: deploy/model-console-web.service sizes
LimitNOFILE for it.
"""

import os

max_streams = int(os.environ.get("GATEWAY_MAX_STREAMS", "1000"))

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(os.cpu_count() or 1)))
worker_class = "gevent"
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", str(max_streams + 500)))
preload_app = False  # the app must be imported after the worker's monkey-patching
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "20"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "120"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
backlog = 4096  # a burst of new streams waits in the kernel, not refused
# Recycle workers now and then so a slow leak in any library cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
