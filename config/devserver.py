"""`make run`: migrate, seed the demo workspace, and serve the app on http://127.0.0.1:8000.

The app is served as in production (the Procfile): gunicorn with config/gunicorn.py, so its
gevent worker, monkey-patching and stream cap are what developers run too; one worker, with
--reload restarting it when a Python file changes, and the access log on the terminal.

With `redis-server` on PATH it starts a private Redis (data under var/redis) and a Celery
worker, and the app uses them; without it the app runs in embedded mode (tasks in-process,
routing state in memory). Everything it started stops with Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8000")
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]


def demo_password() -> str:
    path = VAR_DIR / "demo_password"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(9))
        path.chmod(0o600)
    return path.read_text().strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def server_command() -> list[str]:
    """The production server command (Procfile), for one developer: one worker, reloading."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi",
        "-c",
        str(BASE_DIR / "config" / "gunicorn.py"),
        "--bind",
        f"{HOST}:{PORT}",
        "--workers",
        "1",
        "--reload",
        "--graceful-timeout",
        "5",  # Ctrl-C and reloads need not wait for streams as a deploy does
        "--access-logfile",
        "-",
    ]


def main() -> int:
    # SIGTERM (from a supervisor or `timeout`) cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    env = dict(os.environ)
    children: list[subprocess.Popen] = []
    redis_binary = shutil.which("redis-server")
    mode = "in embedded mode: tasks run in-process, routing state in memory"

    if env.get("REDIS_URL"):
        mode = f"with Redis at {env['REDIS_URL']} (from REDIS_URL)"
    elif redis_binary:
        redis_dir = VAR_DIR / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        children.append(
            subprocess.Popen(
                [
                    redis_binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--dir",
                    str(redis_dir),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--logfile",
                    str(redis_dir / "redis.log"),
                ],
            )
        )
        if wait_for_port(port):
            env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            mode = f"with a private Redis on 127.0.0.1:{port} (var/redis) with a Celery worker"
        else:
            print("redis-server did not start; falling back to embedded mode.", flush=True)

    try:
        print(f"Preparing var/ (database migrations, the demo workspace), {mode}...", flush=True)
        subprocess.run([*MANAGE, "migrate", "--noinput", "-v", "0"], env=env, check=True)
        password = demo_password()
        subprocess.run(
            [*MANAGE, "seed_demo", "--password", password, "--staff"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if env.get("REDIS_URL"):
            worker_log = (VAR_DIR / "celery-worker.log").open("ab")
            worker = [sys.executable, "-m", "celery", "-A", "config", "worker",
                      "--loglevel", "INFO", "--concurrency", "2", "--beat",
                      "--schedule", str(VAR_DIR / "celerybeat-schedule")]  # fmt: skip
            children.append(
                subprocess.Popen(
                    worker, env=env, cwd=BASE_DIR, stdout=worker_log, stderr=subprocess.STDOUT
                )
            )
            mode += " (worker log: var/celery-worker.log)"
        url = f"http://{HOST}:{PORT}"
        print(
            f"\n  Model Console: {url}\n"
            f"  Running {mode}.\n"
            f"  Demo logins (password {password}):\n"
            "    owner@demo.test   (owner; also the Django admin at /admin/)\n"
            "    admin@demo.test   (admin)\n"
            "    editor@demo.test  (editor, read-only settings)\n"
            "    member@demo.test  (member, read-only settings)\n",
            flush=True,
        )
        server = subprocess.Popen(server_command(), env=env, cwd=BASE_DIR)
        children.append(server)
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    sys.exit(main())
