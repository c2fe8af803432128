"""Plan quotas of system providers: units, periods, refunds, the source a workspace's calls
use (preferred system or custom, with DESIGN.md section 4's fallbacks) and the concurrency
guarantee with parallel processes on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from django.db import connection

from invocation import api
from invocation.metering import quota_reserve
from invocation.models import UsageRecord
from system.models import Preferred, QuotaUsage
from system.quotas import QuotaState, quota_state, seconds_until_reset
from system.selectors import choose_source
from tests.factories import ModelCreditFactory, ProviderPreferenceFactory, QuotaUsageFactory
from upstream.calls import Message
from upstream.errors import ProviderError, QuotaExceeded

ROOT = Path(__file__).resolve().parents[2]
HELLO = [Message("user", "Hello there")]  # the fake answers "You said: Hello there" (4 tokens)


def chat(workspace, model="openai/gpt-4o-mini"):
    return api.chat(workspace, model, HELLO)


def test_a_workspace_without_credentials_uses_the_system_provider(workspace, system_openai, quota):
    quota(10)
    served = chat(workspace)
    assert served.value.content == "You said: Hello there"
    record = UsageRecord.objects.get()
    assert (record.source, record.credential_name, record.credential_id) == (
        "system",
        "System: operator-main",
        None,
    )
    assert quota_state(workspace, "openai").used == 1


def test_calls_stop_at_the_limit_with_the_plan_named(workspace, system_openai, quota):
    quota(2)
    chat(workspace)
    chat(workspace)
    with pytest.raises(QuotaExceeded) as refused:
        chat(workspace)
    assert refused.value.message == "OpenAI quota exceeded for this workspace's plan (Free)"
    assert refused.value.retry_after == pytest.approx(seconds_until_reset("monthly"), abs=5)
    assert quota_state(workspace, "openai").used == 2
    assert [r.outcome for r in UsageRecord.objects.order_by("pk")] == [
        "success",
        "success",
        "quota_exceeded",
    ]


def test_tokens_are_charged_with_the_reported_count(workspace, system_openai, quota):
    quota(10, unit="tokens")
    served = chat(workspace)
    total = served.value.usage.total_tokens
    assert total > 1
    assert quota_state(workspace, "openai").used == total  # 6: under 10, so one more call
    chat(workspace)  # starts with 4 tokens left and uses 6: tokens are known only afterwards
    assert quota_state(workspace, "openai").used == 2 * total
    with pytest.raises(QuotaExceeded):
        chat(workspace)


def test_credits_per_model_come_from_the_table(workspace, system_openai, quota):
    quota(10, unit="credits")
    ModelCreditFactory(model_name="gpt-4o", credits=4)
    chat(workspace, "openai/gpt-4o")  # 4
    chat(workspace, "openai/gpt-4o-mini")  # 1 (not listed)
    chat(workspace, "openai/gpt-4o")  # 9
    chat(workspace, "openai/gpt-4o")  # 13: the last call passes the limit by less than its cost
    assert quota_state(workspace, "openai").used == 13
    with pytest.raises(QuotaExceeded):
        chat(workspace, "openai/gpt-4o-mini")


def test_unlimited_quotas_are_metered_but_never_refuse(workspace, system_openai, quota):
    quota(-1)
    for _ in range(5):
        chat(workspace)
    state = quota_state(workspace, "openai")
    assert (state.used, state.exceeded, state.summary) == (
        5,
        False,
        "5 calls this month (unlimited)",
    )


def test_a_provider_the_plan_does_not_include_is_refused(workspace, system_openai, free_plan):
    with pytest.raises(Exception) as refused:
        chat(workspace)
    assert "quota exceeded" in str(refused.value).lower()
    assert quota_state(workspace, "openai").summary == "not in the Free plan"


def test_a_failed_call_is_refunded(workspace, system_openai, quota, fake_providers):
    quota(5)
    system_openai.credentials.update(
        config={"base_url": fake_providers.base_url("openai", "error500")}
    )
    from workspaces.config_cache import config_forget_all

    config_forget_all()
    with pytest.raises(ProviderError):
        chat(workspace)
    assert quota_state(workspace, "openai").used == 0


def test_monthly_quotas_start_again_each_month(workspace, system_openai, quota):
    quota(1)
    QuotaUsageFactory(workspace=workspace, period_start=date(2020, 1, 1), used=1)
    chat(workspace)  # last month's use does not count
    with pytest.raises(QuotaExceeded):
        chat(workspace)


def test_total_quotas_never_start_again(workspace, system_openai, quota):
    quota(1, period="total")
    chat(workspace)
    with pytest.raises(QuotaExceeded) as refused:
        chat(workspace)
    assert refused.value.retry_after is None
    assert QuotaUsage.objects.get().period_start == date(1970, 1, 1)


# -- which credentials serve ------------------------------------------------------------------


def used(workspace) -> str:
    return UsageRecord.objects.order_by("-pk").first().source


def test_custom_is_the_default_once_the_workspace_has_a_credential(
    workspace, system_openai, quota, openai_key
):
    quota(10)
    chat(workspace)
    assert used(workspace) == "custom"
    assert quota_state(workspace, "openai").used == 0


def test_preferred_system_is_used_even_with_a_credential(
    workspace, system_openai, quota, openai_key
):
    quota(10)
    ProviderPreferenceFactory(workspace=workspace, preferred=Preferred.SYSTEM)
    chat(workspace)
    assert used(workspace) == "system"


def test_preferred_system_without_quota_falls_back_to_custom(
    workspace, system_openai, quota, openai_key
):
    quota(1)
    ProviderPreferenceFactory(workspace=workspace, preferred=Preferred.SYSTEM)
    chat(workspace)
    chat(workspace)  # the quota is used up: the workspace's own key serves
    assert [r.source for r in UsageRecord.objects.order_by("pk")] == ["system", "custom"]


def test_preferred_custom_with_nothing_configured_falls_back_to_system(
    workspace, system_openai, quota
):
    quota(10)
    ProviderPreferenceFactory(workspace=workspace, preferred=Preferred.CUSTOM)
    chat(workspace)
    assert used(workspace) == "system"


@pytest.mark.parametrize(
    ("has_custom", "offered", "left", "preference", "source", "fallback"),
    [
        (False, True, True, None, "system", False),
        (True, True, True, None, "custom", False),
        (True, True, True, "system", "system", False),
        (True, True, False, "system", "custom", True),
        (False, True, False, "system", "system", False),  # nothing else: shows quota exceeded
        (False, True, True, "custom", "system", True),
        (False, False, False, None, "custom", True),  # nothing at all: "no credential"
    ],
)
def test_source_choice_table(has_custom, offered, left, preference, source, fallback):
    quota = QuotaState("openai", "Free", limit=5, used=1 if left else 5)
    choice = choose_source(
        has_custom=has_custom, offered=offered, quota=quota, preference=preference
    )
    assert (choice.source, choice.fallback) == (source, fallback)


# -- concurrency ------------------------------------------------------------------------------

RESERVE = """
import sys, time
from invocation.metering import quota_reserve
from upstream.errors import ProviderError, QuotaExceeded
from workspaces.models import Workspace
workspace = Workspace.objects.get(pk={workspace})
while time.time() < {start}:
    time.sleep(0.001)
won = 0
for _ in range({attempts}):
    try:
        quota_reserve(workspace, "openai", "{model}")
        won += 1
    except QuotaExceeded:
        pass
print("WON", won)
"""


def race(workspace, *, processes: int, attempts: int, model: str = "gpt-4o-mini") -> list[int]:
    import time

    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    script = RESERVE.format(
        workspace=workspace.pk, start=time.time() + 4, attempts=attempts, model=model
    )
    env = {**os.environ, "DATABASE_URL": url}
    children = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    wins = []
    for child in children:
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        wins.append(int(out.split("WON")[-1]))
    return wins


@pytest.mark.django_db(transaction=True)
def test_parallel_processes_never_overrun_a_calls_quota(postgres, workspace, quota):
    quota(37)
    wins = race(workspace, processes=4, attempts=25)  # 100 attempts at 37 calls
    assert sum(wins) == 37
    assert QuotaUsage.objects.get(workspace=workspace).used == 37


@pytest.mark.django_db(transaction=True)
def test_parallel_processes_overrun_a_credits_quota_by_less_than_one_call(
    postgres, workspace, quota
):
    quota(50, unit="credits")
    ModelCreditFactory(model_name="gpt-4o", credits=7)
    wins = race(workspace, processes=4, attempts=10, model="gpt-4o")
    used = QuotaUsage.objects.get(workspace=workspace).used
    assert used == sum(wins) * 7
    assert 50 <= used < 50 + 7  # 8 calls (56): the last one started with 1 credit left


def test_the_reservation_is_one_conditional_update(workspace, quota, django_assert_num_queries):
    quota(5)
    quota_reserve(workspace, "openai", "gpt-4o-mini")  # creates the period's row
    with django_assert_num_queries(3):  # plan quota, credits skipped, the UPDATE
        quota_reserve(workspace, "openai", "gpt-4o-mini")
    assert json.dumps(quota_state(workspace, "openai").used) == "2"


def test_streamed_calls_are_charged_their_tokens_when_they_end(workspace, system_openai, quota):
    quota(100, unit="tokens")
    streamed = api.chat_stream(workspace, "openai/gpt-4o-mini", HELLO)
    text = "".join(chunk.delta for chunk in streamed.chunks())
    assert text == "You said: Hello there"
    assert streamed.credential.name == "operator-main"
    assert quota_state(workspace, "openai").used == streamed.stream.usage.total_tokens
    assert UsageRecord.objects.get().source == "system"


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_usage_settles_at_the_reservation(
    workspace, system_openai, quota, fake_providers, stream
):
    """The provider answered but its usage cannot be read: the call keeps its reserved token
    rather than being charged nothing."""
    from system.models import SystemCredential

    SystemCredential.objects.update(
        config={"base_url": fake_providers.base_url("openai", "badusage")}
    )
    from workspaces.config_cache import config_forget_all

    config_forget_all()
    quota(100, unit="tokens")
    if stream:
        streamed = api.chat_stream(workspace, "openai/gpt-4o-mini", HELLO)
        text = "".join(chunk.delta for chunk in streamed.chunks())
    else:
        text = chat(workspace).value.content
    assert text == "You said: Hello there"
    assert quota_state(workspace, "openai").used == 1
    assert UsageRecord.objects.get().outcome == "success"
