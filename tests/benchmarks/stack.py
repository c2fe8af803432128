"""What the benchmarks that run the app as its own processes share: ports, waiting for a server,
percentiles, memory and CPU of a process tree read from /proc, a throwaway PostgreSQL database,
a private Redis, a workspace with credentials and an API key, and the production start command
read from the Procfile (so a benchmark follows any change to how production serves).

Needs PostgreSQL at 127.0.0.1:5432 (user postgres) and `redis-server` on PATH.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[2]
PG = "postgres://postgres@127.0.0.1:5432"
VENV_BIN = Path(sys.executable).parent
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until `url` answers anything at all; fails early if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def stop(*processes: subprocess.Popen) -> None:
    """SIGTERM each (a server's graceful stop), then SIGKILL what is still there after 15 s."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- Processes, read from /proc -----------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 onwards), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (a server's parent and workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def tree_rss_kib(root: int) -> int:
    """Resident memory of `root` and its descendants, summed."""
    total = 0
    for pid in process_tree(root):
        fields = _stat(pid)
        if fields:
            total += int(fields[21]) * _PAGE_KIB  # rss, in pages
    return total


def tree_cpu_seconds(root: int) -> float:
    """User and system CPU time used so far by `root` and its living descendants."""
    total = 0
    for pid in process_tree(root):
        fields = _stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _CLOCK_TICKS


def wait_idle(
    root: int, *, below: float = 0.05, window: float = 1.0, timeout: float = 180
) -> float:
    """Until the tree under `root` used less than `below` of a core over `window` seconds (a
    server done with work left from a previous load); returns how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = tree_cpu_seconds(root)
        time.sleep(window)
        if tree_cpu_seconds(root) - before < below * window:
            break
    return time.monotonic() - started


def _machine_ticks() -> int:
    """CPU time the whole machine spent in user and system mode so far (/proc/stat)."""
    user, nice, system = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:4]
    return int(user) + int(nice) + int(system)


def _own_ticks() -> int:
    """CPU time used so far by this process and everything it started: the living ones, and
    the ones that ended (counted into their parent once waited for)."""
    total = 0
    for pid in process_tree(os.getpid()):
        fields = _stat(pid)
        if fields:
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))  # u/s time, children's
    return total


class OtherWork:
    """Measures, while the block runs, how many cores the machine kept busy with work that is
    not this process tree's (another job on a shared machine): `cores` once the block is done.
    Interrupts, where the kernel carries loopback traffic, are left out of both sides."""

    cores = 0.0

    def __enter__(self) -> OtherWork:
        self._start = (time.monotonic(), _machine_ticks(), _own_ticks())
        return self

    def __exit__(self, *exc) -> None:
        started, machine, own = self._start
        elapsed = time.monotonic() - started
        other = (_machine_ticks() - machine) - (_own_ticks() - own)
        self.cores = max(0.0, other / _CLOCK_TICKS / max(elapsed, 1e-3))


class PeakMemory:
    """Samples the resident memory of a process tree every `interval` seconds in a thread while
    the block runs; `peak_mib` is the largest sum seen."""

    def __init__(self, root: int, interval: float = 0.1):
        self.root, self.interval, self.peak_kib = root, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, tree_rss_kib(self.root))
            self._stop.wait(self.interval)

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def raise_file_limit() -> None:
    """Thousands of sockets: this process's soft limit on open files (which the servers it
    starts inherit) up to the hard one, as production's unit sets LimitNOFILE."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- Services -----------------------------------------------------------------------------------


def create_database(name: str) -> str:
    """A fresh, empty database (dropped first if an earlier run left it); returns its URL."""
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{PG}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """A private redis-server on a free loopback port, keeping nothing on disk; (process, URL)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)]
        + ["--save", "", "--appendonly", "no", "--logfile", str(folder / "redis.log")],
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    stop(process)
    raise RuntimeError("redis-server did not come up")


# --- The app as production runs it --------------------------------------------------------------


def procfile_command(process: str = "web") -> str:
    """The Procfile's command for `process` (e.g. `web`): how production starts it."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process and command.strip():
            return command.strip()
    raise LookupError(f"the Procfile has no {process!r} process")


def procfile_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with this virtualenv first on PATH, so the Procfile's bare commands (gunicorn,
    python) are the project's."""
    return {**env, "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', os.defpath)}"}


def run_procfile(process: str, env: dict[str, str], **popen) -> subprocess.CompletedProcess:
    """Runs a one-off Procfile process (e.g. `release`) to its end; fails if it fails."""
    return subprocess.run(
        ["sh", "-c", procfile_command(process)],
        cwd=ROOT,
        env=procfile_env(env),
        check=True,
        **popen,
    )


def start_procfile(process: str, env: dict[str, str], **popen) -> subprocess.Popen:
    """Starts a Procfile process (e.g. `web`) as production would: its command through a shell
    that `exec`s it, so the returned process is the server itself (its pid the parent of its
    workers)."""
    return subprocess.Popen(
        ["sh", "-c", f"exec {procfile_command(process)}"],
        cwd=ROOT,
        env=procfile_env(env),
        **popen,
    )


def production_env(
    *, database_url: str, redis_url: str, port: int, var_dir: Path, allow: list[str]
) -> dict[str, str]:
    """The environment production runs with (docs/operations.md, "Running in production"),
    serving on 127.0.0.1:`port` (PORT, and GUNICORN_BIND for config/gunicorn.py), with provider
    URLs on `allow` (host:port on loopback, which the SSRF guard refuses otherwise) reachable."""
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "DEPLOYMENT": "production",
        "DEBUG": "false",
        "SECRET_KEY": os.urandom(40).hex(),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PROVIDER_URL_ALLOWLIST": ",".join(allow),
        "VAR_DIR": str(var_dir),
        "STATIC_ROOT": str(var_dir / "staticfiles"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }


# Behind its TLS proxy (the documented production set-up) every request arrives marked HTTPS;
# without this header production redirects plain HTTP to HTTPS.
BEHIND_TLS = {"X-Forwarded-Proto": "https"}

_WORKSPACE = """
import json
from workspaces.models import Plan, Workspace, User, Membership
from credentials.models import Credential
from balancing.services import ModelRef, pool_entry_add, pool_set_enabled
from api_keys.services import api_key_create
owner = User.objects.create_user(email="owner@bench.test", password="x-bench-password")
ws = Workspace.objects.create(name="Bench", slug="bench", plan=Plan.objects.get(slug="pro"))
Membership.objects.create(workspace=ws, user=owner, role="owner")
ref = ModelRef("openai", "gpt-4o-mini", "llm")
for i in range(%(credentials)d):
    c = Credential.objects.create(
        workspace=ws, provider="openai", name=f"key-{i}", is_default=i == 0,
        secret_data=json.dumps({"api_key": f"sk-bench-{i}"}), masks={},
        config={"base_url": "%(upstream)s/v1"},
    )
    if i:
        pool_entry_add(workspace=ws, ref=ref, credential=c, acting_user=owner)
if %(credentials)d > 1:
    pool_set_enabled(workspace=ws, ref=ref, enabled=True, acting_user=owner)
print(api_key_create(workspace=ws, name="bench", acting_user=owner).secret)
"""


def create_workspace(env: dict[str, str], upstream_url: str, *, credentials: int) -> str:
    """A Pro workspace whose OpenAI credentials (`credentials` of them, load-balanced in a pool
    when more than one) point at `upstream_url`; returns a new API key for it. The database in
    `env` must be migrated."""
    script = _WORKSPACE % {"upstream": upstream_url, "credentials": credentials}
    answer = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return answer.stdout.strip().splitlines()[-1]


_SESSION = """
from django.conf import settings
from django.test import Client
from workspaces.models import User
client = Client()
client.force_login(User.objects.get(email="%(email)s"))
print(settings.SESSION_COOKIE_NAME + "=" + client.cookies[settings.SESSION_COOKIE_NAME].value)
"""


def login_cookie(env: dict[str, str], email: str = "owner@bench.test") -> str:
    """A `Cookie` header value for a session of `email` (made by the app itself, in the
    database `env` names), for fetching the console's pages as that user."""
    answer = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", _SESSION % {"email": email}],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return answer.stdout.strip().splitlines()[-1]
