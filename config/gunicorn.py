"""gunicorn settings: `gunicorn config.wsgi -c config/gunicorn.py`.

Threaded workers (gthread): model calls spend their time waiting for the provider, and a
streamed answer holds its thread for its whole length, so each process serves many requests at
once. Scale with WEB_CONCURRENCY (processes) and GUNICORN_THREADS (threads per process); every
process shares routing state through Redis.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# Streams may last minutes; a stuck worker is still replaced after this long without a beat.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "330"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak in any library cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
