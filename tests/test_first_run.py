"""A first run on a bare machine (issue 23): `make test` fetches the Chromium the browser tests
need, or says in one line what to install, through `.ci/chromium`; `make` says what it does
while it builds the virtualenv."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[1]
SCRIPT = BASE_DIR / ".ci" / "chromium"


def run_script(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_an_installed_chromium_needs_nothing(tmp_path):
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    result = run_script(E2E_CHROMIUM=str(chromium))
    assert result.returncode == 0
    assert result.stdout == result.stderr == ""


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop to nobody"
)
def test_without_chromium_and_root_it_says_in_one_line_what_to_install(tmp_path):
    """Not root: no apt-get, no sudo; one line on stderr and a failure before any test runs."""
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(SCRIPT)],
        env={**os.environ, "E2E_CHROMIUM": str(tmp_path / "missing")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "apt-get install chromium" in result.stderr


def test_make_test_checks_chromium_first_and_the_install_says_what_it_does():
    dry_run = subprocess.run(
        ["make", "-n", "-B", "test", "VENV=/nonexistent-venv"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    lines = dry_run.splitlines()
    assert any("Installing the dependencies" in line for line in lines)
    assert not any("pip install" in line and "--quiet" in line and "-e" in line for line in lines)
    chromium = next(i for i, line in enumerate(lines) if ".ci/chromium" in line)
    pytest_run = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    assert chromium < pytest_run
