"""The batched usage writer production runs (invocation/usage.py): calls return before their
record is written, records keep the time of the call, a background thread writes them, and
deleted credentials, a deleted workspace, a database that refuses connections and a process
exiting lose nothing that can still be stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from invocation import api, usage
from invocation.models import UsageRecord
from tests.factories import CredentialFactory, UsageRecordFactory, WorkspaceFactory
from tests.faults import database_refusing_connections, in_thread
from tests.helpers import flush_usage, reset_writer
from upstream.calls import Message

ROOT = Path(__file__).resolve().parents[2]
HELLO = [Message("user", "Hello there")]


@pytest.fixture
def batched(settings, transactional_db):
    """Records go to the background writer; its thread waits 30 s unless a test shortens it,
    so the test decides when they are written."""
    settings.USAGE_WRITE_INTERVAL = 30
    reset_writer()
    yield usage.writer()
    reset_writer()


def test_a_call_returns_before_its_record_is_written_and_keeps_its_time(batched, openai_key):
    before = timezone.now()
    served = api.chat(openai_key.workspace, "openai/gpt-4o-mini", HELLO)
    assert served.value.content == "You said: Hello there"
    assert batched.pending() == 1
    assert not UsageRecord.objects.exists()

    time.sleep(0.05)
    flushed_at = timezone.now()
    assert flush_usage() == 1
    record = UsageRecord.objects.get()
    assert (record.credential_name, record.outcome, record.completion_tokens) == (
        "prod-key",
        "success",
        4,
    )
    assert before <= record.created_at < flushed_at  # the call's time, not the write's


def test_the_background_thread_writes_records_in_batches(settings, batched, openai_key):
    batched.interval = 0.1
    for _ in range(5):
        api.chat(openai_key.workspace, "openai/gpt-4o-mini", HELLO)
    deadline = time.monotonic() + 10
    while UsageRecord.objects.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert UsageRecord.objects.count() == 5
    assert batched.pending() == 0


def test_a_credential_deleted_before_the_write_leaves_its_name(batched, openai_key):
    api.chat(openai_key.workspace, "openai/gpt-4o-mini", HELLO)
    openai_key.delete()
    flush_usage()
    record = UsageRecord.objects.get()
    assert (record.credential_id, record.credential_name) == (None, "prod-key")


def test_a_deleted_workspace_drops_only_its_own_records(batched, workspace):
    gone = WorkspaceFactory(name="Gone", slug="gone")
    for owner in (workspace, gone, workspace):
        usage.record_usage(UsageRecordFactory.build(workspace=owner))
    gone.delete()
    assert flush_usage() == 2
    assert list(UsageRecord.objects.values_list("workspace_id", flat=True)) == [workspace.pk] * 2


def test_records_wait_while_the_database_refuses_connections(batched, postgres, openai_key):
    api.chat(openai_key.workspace, "openai/gpt-4o-mini", HELLO)
    with database_refusing_connections():
        assert in_thread(flush_usage) == 0  # a new connection is refused
        assert batched.pending() == 1
    assert in_thread(flush_usage) == 1
    assert UsageRecord.objects.get().credential_name == "prod-key"


def test_a_full_queue_drops_the_oldest_records(workspace, transactional_db):
    writer = usage.UsageWriter(interval=30, max_pending=3)
    for tokens in range(5):
        writer.add(UsageRecordFactory.build(workspace=workspace, prompt_tokens=tokens))
    assert (writer.pending(), writer.dropped) == (3, 2)
    writer.stop()
    assert sorted(UsageRecord.objects.values_list("prompt_tokens", flat=True)) == [2, 3, 4]


def test_records_pending_at_exit_are_written(workspace, transactional_db):
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        url = f"sqlite:///{db['NAME']}"
    script = (
        "from invocation.models import UsageRecord\n"
        "from invocation.usage import record_usage, writer\n"
        f"record_usage(UsageRecord(workspace_id={workspace.pk}, provider='openai', "
        "model='gpt-4o-mini', model_type='llm', endpoint='chat'))\n"
        "assert writer().pending() == 1\n"
    )
    env = {**os.environ, "DATABASE_URL": url, "USAGE_WRITE_INTERVAL": "60"}
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True
    )
    assert UsageRecord.objects.filter(workspace=workspace).count() == 1
    assert UsageRecord.objects.get().created_at > timezone.now() - timedelta(minutes=1)


def test_a_chats_reasoning_tokens_are_kept_on_its_record(workspace, fake_providers):
    """Gemini's fake reports `thoughtsTokenCount` when asked to think."""
    CredentialFactory(
        workspace=workspace,
        provider="gemini",
        name="gemini-key",
        is_default=True,
        secret_data=json.dumps({"api_key": "sk-test-valid-1"}),
        config={"base_url": fake_providers.base_url("gemini")},
    )
    served = api.chat(
        workspace, "gemini/gemini-2.5-flash", [Message("user", "Think")], reasoning_effort="low"
    )
    flush_usage()

    assert served.value.usage.reasoning_tokens == 7
    assert UsageRecord.objects.get(workspace=workspace).reasoning_tokens == 7
