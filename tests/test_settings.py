"""Configuration from the environment: the embedded default and production's refusals.

These run `manage.py` in a fresh process, as `make run` and a production start do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parents[1]
SERVICE_VARIABLES = {
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEY",
    "DEPLOYMENT",
    "ENVIRONMENT",
    "DEBUG",
    "ALLOWED_HOSTS",
}


def manage(*args: str, var_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    environment.update(VAR_DIR=str(var_dir), **env)
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_fresh_machine_runs_embedded_on_sqlite_with_generated_keys(tmp_path):
    migrate = manage("migrate", "--noinput", var_dir=tmp_path)
    assert migrate.returncode == 0, migrate.stderr
    seed = manage("seed_demo", "--password", "demo-pass-1", var_dir=tmp_path)
    assert seed.returncode == 0, seed.stderr
    assert (tmp_path / "db.sqlite3").exists()
    for secret_file in ("secret_key", "field_encryption_key"):
        path = tmp_path / secret_file
        assert path.stat().st_mode & 0o777 == 0o600
    key_before = (tmp_path / "field_encryption_key").read_text()
    manage("check", var_dir=tmp_path)
    assert (tmp_path / "field_encryption_key").read_text() == key_before  # generated once
    shell = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; "
        "print(settings.EMBEDDED_MODE, settings.CELERY_TASK_ALWAYS_EAGER, "
        "settings.DATABASES['default']['ENGINE'])",
        var_dir=tmp_path,
    )
    assert shell.stdout.split() == ["True", "True", "django.db.backends.sqlite3"]


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY must be set when DEPLOYMENT=production"),
        ("FIELD_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY must be set when DEPLOYMENT=production"),
    ],
)
def test_production_refuses_to_start_without_its_keys(tmp_path, missing, message):
    env = {
        "DEPLOYMENT": "production",
        "SECRET_KEY": "x" * 60,
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "console.example.com",
    }
    env.pop(missing)
    result = manage("check", var_dir=tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / missing.lower()).exists()  # nothing generated in production


PRODUCTION_KEYS = {
    "SECRET_KEY": "k" * 60,
    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "console.example.com",
}


def deployment_of(tmp_path, **env: str) -> subprocess.CompletedProcess:
    return manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.DEPLOYMENT, settings.PRODUCTION)",
        var_dir=tmp_path,
        **env,
    )


def test_deployment_names_the_deployment_mode(tmp_path):
    assert deployment_of(tmp_path).stdout.split() == ["development", "False"]
    production = deployment_of(tmp_path, DEPLOYMENT="production", **PRODUCTION_KEYS)
    assert production.stdout.split() == ["production", "True"], production.stderr


def test_environment_is_still_accepted_as_the_older_name_of_deployment(tmp_path):
    result = deployment_of(tmp_path, ENVIRONMENT="production", **PRODUCTION_KEYS)
    assert result.stdout.split() == ["production", "True"], result.stderr
    agreeing = deployment_of(
        tmp_path, DEPLOYMENT="production", ENVIRONMENT="Production", **PRODUCTION_KEYS
    )
    assert agreeing.stdout.split() == ["production", "True"], agreeing.stderr


def test_deployment_and_environment_that_disagree_refuse_to_start(tmp_path):
    result = deployment_of(tmp_path, DEPLOYMENT="development", ENVIRONMENT="production")
    assert result.returncode != 0
    assert "DEPLOYMENT=development and ENVIRONMENT=production disagree" in result.stderr


def test_an_unknown_deployment_mode_is_refused_by_its_name(tmp_path):
    result = deployment_of(tmp_path, DEPLOYMENT="staging")
    assert result.returncode != 0
    assert "DEPLOYMENT must be development or production" in result.stderr


def test_encryption_keys_are_a_comma_separated_list_for_rotation(tmp_path):
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(len(settings.FIELD_ENCRYPTION_KEY))",
        var_dir=tmp_path,
        FIELD_ENCRYPTION_KEY=f"{Fernet.generate_key().decode()}, {Fernet.generate_key().decode()}",
    )
    assert result.stdout.strip() == "2"


def test_redis_url_switches_off_embedded_mode(tmp_path):
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; "
        "print(settings.EMBEDDED_MODE, settings.CELERY_BROKER_URL)",
        var_dir=tmp_path,
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert result.stdout.split() == ["False", "redis://127.0.0.1:6379/3"]


PRODUCTION_ENV = {
    "DEPLOYMENT": "production",
    "SECRET_KEY": "k" * 10 + "-production-secret-key-with-enough-length-and-variety-0123456789",
    "ALLOWED_HOSTS": "console.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/13",
}


def test_the_documented_production_environment_passes_check_deploy(tmp_path):
    """The documented production environment (docs/operations.md): `check --deploy` has
    nothing to say (CI also runs it), and collectstatic builds the hashed, compressed files
    whitenoise serves."""
    env = {
        **PRODUCTION_ENV,
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    check = manage("check", "--deploy", "--fail-level", "WARNING", var_dir=tmp_path, **env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout
    collected = manage("collectstatic", "--noinput", "-v0", var_dir=tmp_path, **env)
    assert collected.returncode == 0, collected.stderr
    manifest = (tmp_path / "static" / "staticfiles.json").read_text()
    assert "css/app." in manifest
    assert list((tmp_path / "static" / "css").glob("app.*.css.gz"))  # compressed copies


LOCKOUT_BEHIND_THE_PROXY = """
import json
from django.core.management import call_command
from django.test import Client
from axes.models import AccessAttempt
from workspaces.models import User

call_command("migrate", verbosity=0)  # the release step
call_command("collectstatic", "--noinput", verbosity=0)
User.objects.create_user(email="owner@acme.test", password="a-long-test-password", is_staff=True)


def sign_in(email, password, forwarded_for, page="/login/"):
    return Client().post(
        page,
        {"username": email, "password": password},
        secure=True,
        HTTP_HOST="console.example.com",
        HTTP_X_FORWARDED_PROTO="https",
        REMOTE_ADDR="10.0.0.254",
        HTTP_X_FORWARDED_FOR=forwarded_for,
    ).status_code


for attempt in range(5):
    sign_in(f"nobody{attempt}@acme.test", "wrong", f"evil, 203.0.113.7")
print(json.dumps({
    "recorded": sorted(set(AccessAttempt.objects.values_list("ip_address", flat=True))),
    "a": sign_in("owner@acme.test", "a-long-test-password", "203.0.113.7"),
    "b": sign_in("owner@acme.test", "a-long-test-password", "198.51.100.20"),
    "b_admin": sign_in("owner@acme.test", "a-long-test-password", "198.51.100.20", "/admin/login/"),
}))
"""


def test_production_behind_its_proxy_locks_out_the_client_not_everyone(tmp_path):
    """The documented production environment, one TLS proxy in front: client A's failures
    (sent with a spoofed X-Forwarded-For) are counted against A, and lock A only; client B
    still signs in, on the console and on /admin/."""
    env = {
        **PRODUCTION_ENV,
        "REDIS_URL": "",
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = manage(
        "shell", "--no-imports", "-c", LOCKOUT_BEHIND_THE_PROXY, var_dir=tmp_path, **env
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"recorded": ["203.0.113.7"], "a": 429, "b": 302, "b_admin": 302}


def test_production_refuses_the_address_development_allows_for_ollama(tmp_path):
    """The development allow-list for a local Ollama (localhost, 127.0.0.1, ::1 on 11434) is
    not production's: there the SSRF guard refuses http://localhost:11434 before connecting."""
    env = {
        **PRODUCTION_ENV,
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    script = (
        "from django.conf import settings\n"
        "from upstream.errors import UnsafeURL\n"
        "from upstream.http import Request\n"
        "from upstream.transports.sync import SyncTransport\n"
        "print(settings.PROVIDER_URL_ALLOWLIST)\n"
        "for host in ('localhost', '127.0.0.1', '[::1]'):\n"
        "    try:\n"
        "        SyncTransport().send(Request('GET', f'http://{host}:11434/api/tags'))\n"
        "    except UnsafeURL as exc:\n"
        "        print(host, exc.title)\n"
    )
    result = manage("shell", "--no-imports", "-c", script, var_dir=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[]",
        "localhost Address not allowed",
        "127.0.0.1 Address not allowed",
        "[::1] Address not allowed",
    ]
