"""Benchmark (issue 20): many streamed chat completions at once, through the gateway as
production serves it, side by side in the same run with the upstream direct and LiteLLM's
proxy.

- Upstream: `stream_upstream.py`, an asyncio fake OpenAI that never limits: per stream 20
  chunks 0.25 s apart (about 5 s), then a usage chunk and `data: [DONE]`.
- Load: `stream_load.py`, its own asyncio process: N streams opened within a second, each timed
  to its first content token and to [DONE] (client timeout 120 s) and checked for the whole
  text.
- Targets: (1) the upstream direct; (2) the floor: `floor_proxy.py`, a bare WSGI forwarder
  that parses and re-encodes each event, served by the gateway's gunicorn configuration (what
  one Python hop costs; the gateway's own share is what it adds on top); (3) the gateway
  started with the Procfile's `web` command (whatever it is when this runs) and production
  settings, on a PostgreSQL database made for the run and dropped after it, and a private
  Redis, with a workspace whose one OpenAI credential points at the fake; (4) LiteLLM's proxy,
  1 worker, no database, installed by this benchmark into a throwaway virtualenv under /tmp
  (kept between runs, one per version; never a project dependency).
- Figures per target, for N = 1,000 then 3,000 (where it bends): streams completed, time to
  first token p50 / p99, all done after (s, and as a multiple of direct), and the peak of the
  summed resident memory of all the server's processes (sampled every 100 ms).

A second test gives the sequential figures: time to first token of one stream at a time over
direct (p50 of 200), and requests per second with 8 clients (non-streamed).

Prints figures; asserts only correctness (the direct streams all completed, no stream carried
the wrong text). Run: make bench, or only this file:

    .venv/bin/python -m pytest -m benchmark -s -q tests/benchmarks/test_stream_concurrency_bench.py

Environment: STREAMS (one N instead of 1000 and 3000, e.g. STREAMS=200 for a quick run),
STREAM_CHUNKS (20), STREAM_INTERVAL (0.25 s), UPSTREAM_DELAYS_MS (20,10: before a
non-streamed answer, a requests/s row set for each), LITELLM_VERSION, LITELLM=0 to leave
LiteLLM out.
Needs PostgreSQL at 127.0.0.1:5432 and redis-server on PATH; LiteLLM's first install needs the
package registry.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.benchmarks.stack import (
    BEHIND_TLS,
    ROOT,
    OtherWork,
    PeakMemory,
    create_database,
    create_workspace,
    drop_database,
    free_port,
    login_cookie,
    percentile,
    procfile_command,
    production_env,
    raise_file_limit,
    run_procfile,
    start_procfile,
    start_redis,
    stop,
    wait_idle,
    wait_until_up,
)

pytestmark = pytest.mark.benchmark

SIZES = [int(os.environ["STREAMS"])] if os.environ.get("STREAMS") else [1_000, 3_000]
CHUNKS = int(os.environ.get("STREAM_CHUNKS", "20"))
INTERVAL = float(os.environ.get("STREAM_INTERVAL", "0.25"))
CLIENT_TIMEOUT = 120.0
RAMP = 1.0  # the N streams open within this many seconds
SEQUENTIAL = 200
CLIENTS = 8
RPS_SECONDS = 8.0
# A whole (non-streamed) answer comes after this long, a provider's time to first byte, as in
# test_gateway_bench.py: at 0 the requests/s would measure Python HTTP servers racing for the
# same two cores (the load generator included) rather than what a gateway adds to a call.
# The requests/s are measured at each of these (the first is the upstream's from the start):
# the shorter the delay, the more the figure weighs each server's CPU per request (where the
# gateway's lead over LiteLLM shows) and the less it is bound by the delay itself (which holds
# direct and every hop to the same ceiling, 8 clients / delay).
UPSTREAM_DELAYS_MS = [float(ms) for ms in os.environ.get("UPSTREAM_DELAYS_MS", "20,10").split(",")]
UPSTREAM_DELAY_MS = UPSTREAM_DELAYS_MS[0]
# A release whose `proxy` extra resolves on the registry this project uses: later ones pin
# `litellm-proxy`, or `litellm-proxy-extras` post-releases, that it does not serve.
LITELLM_VERSION = os.environ.get("LITELLM_VERSION", "1.108.0")
LITELLM_KEY = "sk-litellm-bench"
DB_NAME = "console_stream_bench"
FLOOR = "floor: bare forwarder, same server"
PROVIDER_PAGE = "/settings/model-providers/openai/"  # the console page timed under the load
PAGE_EVERY = 0.25  # seconds between its fetches


@dataclass
class Server:
    """A target of the load: where to send, and the process tree to watch (None: direct)."""

    name: str
    url: str
    key: str
    model: str
    process: subprocess.Popen | None = None
    headers: dict = field(default_factory=dict)
    page: tuple[str, dict] | None = None  # a console page to fetch meanwhile: (URL, headers)

    def spec(self) -> dict:
        return {
            "name": self.name,
            "url": f"{self.url}/v1/chat/completions",
            "key": self.key,
            "model": self.model,
            "headers": self.headers,
        }


def litellm_venv(version: str) -> Path:
    """A virtualenv with `litellm[proxy]==version`, made once and kept under /tmp."""
    folder = Path(tempfile.gettempdir()) / f"model-console-bench-litellm-{version}"
    if (folder / ".installed").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    print(f"\n[benchmark] installing litellm[proxy]=={version} into {folder} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    install = subprocess.run(
        [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        + ["--disable-pip-version-check", f"litellm[proxy]=={version}"],
        capture_output=True,
        text=True,
    )
    if install.returncode:
        errors = [line for line in install.stderr.splitlines() if line.startswith("ERROR")]
        raise RuntimeError(f"pip could not install litellm[proxy]=={version}: {errors[-2:]}")
    (folder / ".installed").touch()
    return folder


def start_litellm(upstream_url: str, folder: Path) -> tuple[subprocess.Popen, str]:
    """LiteLLM's proxy on a free port: one worker, no database, `gpt-4o-mini` served by
    `openai/gpt-4o-mini` at the fake upstream."""
    venv = litellm_venv(LITELLM_VERSION)
    port = free_port()
    config = folder / "litellm.yaml"
    config.write_text(  # JSON is YAML
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "gpt-4o-mini",
                        "litellm_params": {
                            "model": "openai/gpt-4o-mini",
                            "api_base": f"{upstream_url}/v1",
                            "api_key": "sk-bench-0",
                        },
                    }
                ],
                "general_settings": {"master_key": LITELLM_KEY},
            }
        )
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_", "REDIS_", "DJANGO_", "LITELLM_"))
    }
    env |= {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
    log = open(folder / "litellm.log", "wb")  # noqa: SIM115 - the process holds it
    process = subprocess.Popen(
        [str(venv / "bin" / "litellm"), "--config", str(config)]
        + ["--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health/liveliness", process, timeout=180)
    except RuntimeError:
        stop(process)
        raise
    return process, url


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """The targets, in the order they are measured: direct, the gateway, LiteLLM (absent when
    it could not be installed or started: the reason is printed)."""
    folder = tmp_path_factory.mktemp("streams")
    raise_file_limit()
    upstream_port, gateway_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    started: list[subprocess.Popen] = []
    database = False
    try:
        upstream = subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.stream_upstream", str(upstream_port)]
            + [str(CHUNKS), str(INTERVAL), str(UPSTREAM_DELAY_MS)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        started.append(upstream)
        assert upstream.stdout.readline().strip() == b"ready"
        targets = [Server("upstream direct", upstream_url, "sk-bench-0", "gpt-4o-mini", upstream)]

        redis_server, redis_url = start_redis(folder)
        started.append(redis_server)
        database_url = create_database(DB_NAME)
        database = True
        env = production_env(
            database_url=database_url,
            redis_url=redis_url,
            port=gateway_port,
            var_dir=folder / "var",
            allow=[f"127.0.0.1:{upstream_port}"],
        )
        with open(folder / "release.log", "wb") as log:
            run_procfile("release", env, stdout=log, stderr=subprocess.STDOUT)
        key = create_workspace(env, upstream_url, credentials=1)
        gateway_log = open(folder / "gateway.log", "wb")  # noqa: SIM115 - the process holds it
        gateway = start_procfile("web", env, stdout=gateway_log, stderr=subprocess.STDOUT)
        started.append(gateway)
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        wait_until_up(f"{gateway_url}/healthz", gateway, timeout=60)
        page = (
            f"{gateway_url}{PROVIDER_PAGE}",
            {**BEHIND_TLS, "Cookie": login_cookie(env)},
        )
        targets.append(
            Server(
                "this gateway",
                gateway_url,
                key,
                "openai/gpt-4o-mini",
                gateway,
                dict(BEHIND_TLS),
                page,
            )
        )
        floor_port = free_port()
        floor_log = open(folder / "floor.log", "wb")  # noqa: SIM115 - the process holds it
        floor = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "tests.benchmarks.floor_proxy"]
            + ["-c", "config/gunicorn.py"],
            cwd=ROOT,
            env={**env, "UPSTREAM": upstream_url, "GUNICORN_BIND": f"127.0.0.1:{floor_port}"},
            stdout=floor_log,
            stderr=subprocess.STDOUT,
        )
        started.append(floor)
        floor_url = f"http://127.0.0.1:{floor_port}"
        wait_until_up(floor_url, floor, timeout=60)
        targets.insert(1, Server(FLOOR, floor_url, "sk-bench-0", "gpt-4o-mini", floor))
        print(
            f"\n[benchmark] gateway: Procfile web `{procfile_command('web')}`, production "
            f"settings (log: {folder / 'gateway.log'})"
        )

        if os.environ.get("LITELLM", "1") != "0":
            try:
                litellm, litellm_url = start_litellm(upstream_url, folder)
            except (subprocess.CalledProcessError, RuntimeError, OSError) as error:
                print(f"[benchmark] LiteLLM's proxy left out: {error}")
            else:
                started.append(litellm)
                targets.append(
                    Server(
                        f"LiteLLM proxy {LITELLM_VERSION}",
                        litellm_url,
                        LITELLM_KEY,
                        "gpt-4o-mini",
                        litellm,
                    )
                )
        yield targets
    finally:
        stop(*reversed(started))
        if database:
            drop_database(DB_NAME)


class PageProbe:
    """Fetches a console page every PAGE_EVERY seconds in a thread, timing each (the pages
    share the gateway's processes and event loops with the streams)."""

    def __init__(self, page: tuple[str, dict]):
        self.url, self.headers = page
        self.timings: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.wait(PAGE_EVERY):
            started = time.perf_counter()
            try:
                answer = session.get(self.url, headers=self.headers, timeout=30)
            except requests.RequestException as error:
                self.failures.append(type(error).__name__)
                continue
            if answer.status_code != 200 or b"OpenAI" not in answer.content:
                self.failures.append(f"HTTP {answer.status_code}")
                continue
            self.timings.append(time.perf_counter() - started)

    def __enter__(self) -> PageProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(40)

    def figures(self) -> dict:
        return {"timings": self.timings, "failures": self.failures}


def page_alone(page: tuple[str, dict], count: int = 20) -> list[float]:
    """The page's time with nothing else going on (after one warm-up fetch)."""
    url, headers = page
    timings = []
    with requests.Session() as session:
        for index in range(count + 1):
            started = time.perf_counter()
            answer = session.get(url, headers=headers, timeout=30)
            answer.raise_for_status()
            if index:
                timings.append(time.perf_counter() - started)
    return timings


def load(config: dict, timeout: float) -> dict:
    """Runs the load generator (its own process) and returns its figures."""
    answer = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.stream_load", json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if answer.returncode:
        raise RuntimeError(f"load generator failed:\n{answer.stderr[-3000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def settle(targets: list[Server]) -> None:
    """Waits until every server is idle again (done with what an earlier load left it)."""
    for target in targets:
        if target.process is not None:
            wait_idle(target.process.pid)


def concurrent_streams(targets: list[Server], n: int) -> list[dict]:
    """N streams at once against each target in turn; a row of figures per target."""
    rows = []
    for target in targets:
        settle(targets)
        config = {
            "mode": "streams",
            "targets": [target.spec()],
            "n": n,
            "chunks": CHUNKS,
            "timeout": CLIENT_TIMEOUT,
            "ramp": RAMP,
        }
        # The direct row has no server of its own to weigh: the fake upstream serves every row.
        direct = target is targets[0]
        if target.page is not None:
            page_idle = page_alone(target.page)
            settle(targets)
        with (
            nullcontext() if direct else PeakMemory(target.process.pid) as sampler,
            OtherWork() as other,
            nullcontext() if target.page is None else PageProbe(target.page) as probe,
        ):
            figures = load(config, timeout=CLIENT_TIMEOUT + RAMP + 120)
        figures["peak_mib"] = None if direct else sampler.peak_mib
        if target.page is not None:
            figures["page"] = probe.figures() | {"idle": page_idle}
        figures["other_cores"] = other.cores
        rows.append(figures)
    return rows


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def table(results: list[tuple[int, list[dict]]]) -> str:
    lines = [
        "| streams | target | completed | time to first token p50 / p99 | all done after "
        "| peak memory | other work meanwhile |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for n, rows in results:
        direct = rows[0]["all_done_after"]
        for row in rows:
            completed = f"{row['completed']}/{n}"
            missing = []
            if row["timeouts"]:
                missing.append(f"{row['timeouts']} client timeouts at {CLIENT_TIMEOUT:.0f} s")
            if row["errors"]:
                missing.append(f"{sum(row['errors'].values())} errors")
                notes.extend(
                    f"{n:,} streams, {row['target']}: {count} × {error}"
                    for error, count in sorted(row["errors"].items(), key=lambda e: -e[1])[:5]
                )
            if missing:
                completed += f" ({', '.join(missing)})"
            ttft = (
                f"{_duration(percentile(row['ttft'], 0.5))} / "
                f"{_duration(percentile(row['ttft'], 0.99))}"
                if row["ttft"]
                else "–"
            )
            done = f"{row['all_done_after']:.1f} s ({row['all_done_after'] / direct:.2f}× direct)"
            memory = f"{row['peak_mib']:.0f} MB" if row["peak_mib"] is not None else "–"
            other = f"{row['other_cores']:.2f} cores"
            lines.append(
                f"| {n:,} | {row['target']} | {completed} | {ttft} | {done} | {memory} | {other} |"
            )
    for n, rows in results:
        for row in rows:
            page = row.get("page")
            if page is None:
                continue
            busy = page["timings"]
            during = (
                f"p50 {percentile(busy, 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(busy, 0.99) * 1000:.0f} ms over {len(busy)} fetches"
                if busy
                else "no fetch answered"
            )
            failed = f"; {len(page['failures'])} failed: {page['failures'][:3]}"
            notes.append(
                f"{n:,} streams, {row['target']}: the provider page ({PROVIDER_PAGE}) alone "
                f"p50 {percentile(page['idle'], 0.5) * 1000:.0f} ms; during the streams {during}"
                + (failed if page["failures"] else "")
            )
    notes.append(
        "other work meanwhile: cores the machine kept busy during that row's load with work "
        "that is not this benchmark's (another job on a shared machine competes with the run)"
    )
    return "\n".join(lines + [f"  - {note}" for note in notes])


def test_concurrent_streams(servers):
    results = []
    for n in SIZES:
        settle(servers)
        rows = concurrent_streams(servers, n)
        results.append((n, rows))
        print(
            f"\n[benchmark] concurrent streams, N opened within {RAMP:.0f} s; upstream {CHUNKS} "
            f"chunks {INTERVAL} s apart; {os.cpu_count()} cores\n{table(results)}",
            flush=True,
        )
        for row in rows:
            wrong = [error for error in row["errors"] if error.startswith("wrong text")]
            assert not wrong, f"{row['target']} streamed the wrong text: {wrong}"
        assert rows[0]["completed"] == n, f"the direct streams did not all complete: {rows[0]}"


def sequential_figures(targets: list[Server]) -> dict:
    """Time to first token of one stream at a time, p50 of SEQUENTIAL per target (rotating
    targets), and non-streamed requests per second with CLIENTS clients, per target."""
    # Ours rotate, so drift hits them alike; LiteLLM's proxy goes on working after it answers
    # (its logging and spend tasks) and would slow whichever target came next, so it is timed
    # on its own, after them.
    ours = [target for target in targets if not target.name.startswith("LiteLLM")]
    sequential: dict = {"ttft": {}, "errors": {}}
    with OtherWork() as other:
        for group in (ours, [target for target in targets if target not in ours]):
            if not group:
                continue
            settle(targets)
            figures = load(
                {
                    "mode": "sequential",
                    "targets": [target.spec() for target in group],
                    "count": SEQUENTIAL,
                    "warmup": 20,
                },
                timeout=600,
            )
            sequential["ttft"] |= figures["ttft"]
            sequential["errors"] |= figures["errors"]
    others = {"sequential": other.cores}
    rates: dict[float, dict[str, dict]] = {}
    upstream = targets[0].url
    for delay in UPSTREAM_DELAYS_MS:
        requests.post(f"{upstream}/delay/{delay:g}", timeout=5).raise_for_status()
        rates[delay] = {}
        for target in targets:
            settle(targets)
            with OtherWork() as other:
                rates[delay][target.name] = load(
                    {
                        "mode": "rps",
                        "targets": [target.spec()],
                        "clients": CLIENTS,
                        "seconds": RPS_SECONDS,
                        "chunks": CHUNKS,
                    },
                    timeout=RPS_SECONDS + 120,
                )
            others[(delay, target.name)] = other.cores
    requests.post(f"{upstream}/delay/{UPSTREAM_DELAY_MS:g}", timeout=5).raise_for_status()
    return {
        "other_cores": others,
        "ttft_p50_ms": {
            name: statistics.median(values) * 1000 for name, values in sequential["ttft"].items()
        },
        "sequential_errors": sequential["errors"],
        "rps": {
            delay: {name: figures["rps"] for name, figures in row.items()}
            for delay, row in rates.items()
        },
        "rps_errors": {
            (delay, name): figures["errors"]
            for delay, row in rates.items()
            for name, figures in row.items()
        },
    }


def test_sequential_overhead_and_throughput(servers):
    figures = sequential_figures(servers)
    ttft, rps, others = figures["ttft_p50_ms"], figures["rps"], figures["other_cores"]
    direct = servers[0].name
    lines = [
        f"\n[benchmark] one stream at a time ({SEQUENTIAL} each; ours rotating, LiteLLM's apart):",
        "| target | time to first token p50 | over direct |",
        "|---|---|---|",
    ]
    for target in servers:
        name = target.name
        lines.append(f"| {name} | {ttft[name]:.2f} ms | {ttft[name] - ttft[direct]:+.2f} ms |")
    lines.append(
        f"gateway's own share over the floor (one Python hop served the same way): "
        f"{ttft['this gateway'] - ttft[FLOOR]:+.2f} ms; other work meanwhile: "
        f"{others['sequential']:.2f} cores"
    )
    lines += [
        f"\n[benchmark] requests/s, {CLIENTS} clients non-streamed, {RPS_SECONDS:g} s each, the "
        "upstream answering after each delay:",
        "| target | "
        + " | ".join(f"upstream delay {delay:g} ms (× direct; other work)" for delay in rps)
        + " |",
        "|---|" + "---|" * len(rps),
    ]
    for target in servers:
        name = target.name
        cells = [
            f"{row[name]:,.0f} ({row[name] / row[direct]:.2f}×; {others[(delay, name)]:.2f} cores)"
            for delay, row in rps.items()
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    litellm = [target.name for target in servers if target.name.startswith("LiteLLM")]
    if litellm:
        for delay, row in rps.items():
            lines.append(
                f"upstream delay {delay:g} ms: gateway requests/s = "
                f"{row['this gateway'] / row[litellm[0]]:.1f}× LiteLLM's"
            )
        lines.append(
            f"gateway time to first token {ttft['this gateway'] - ttft[litellm[0]]:+.2f} ms "
            "against LiteLLM"
        )
    if figures["sequential_errors"]:
        lines.append(f"errors (one stream at a time): {figures['sequential_errors']}")
    failed = {key: errors for key, errors in figures["rps_errors"].items() if errors}
    if failed:
        lines.append(f"errors (requests/s): {failed}")
    print("\n".join(lines), flush=True)
    assert not figures["sequential_errors"], figures["sequential_errors"]
    assert not failed, failed
