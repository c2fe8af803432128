"""Settings → Usage: totals per provider, model and credential, the per-day (or per-hour) chart
with its empty buckets, the CSV export, who may see it, and that nothing of another workspace
shows up."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from invocation import selectors
from tests.factories import UsageRecordFactory

# A fixed "now" (a Saturday morning, UTC) so day boundaries never move under a test.
NOW = datetime(2025, 3, 15, 10, 30, tzinfo=UTC)
TODAY = datetime(2025, 3, 15, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    return NOW


def record(workspace, at, **fields):
    values = {
        "provider": "openai",
        "model": "gpt-4o",
        "model_type": "llm",
        "credential_name": "prod-key",
        "endpoint": "chat",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "outcome": "success",
    }
    values.update(fields)
    return UsageRecordFactory(workspace=workspace, created_at=at, **values)


def summary(workspace, group_by, *, since=TODAY - 6 * DAY, until=TODAY + DAY):
    return selectors.usage_summary(workspace=workspace, since=since, until=until, group_by=group_by)


@pytest.fixture
def mixed_week(workspace):
    """Three days of calls: two OpenAI models on two credentials, one Anthropic model, and two
    failures."""
    record(workspace, TODAY - 5 * DAY + timedelta(hours=9), prompt_tokens=100, completion_tokens=20)
    record(workspace, TODAY - 5 * DAY + timedelta(hours=23, minutes=59), model="gpt-4o-mini")
    record(
        workspace,
        TODAY - 2 * DAY + timedelta(hours=1),
        credential_name="backup-key",
        outcome="rate_limited",
        prompt_tokens=0,
        completion_tokens=0,
    )
    record(
        workspace,
        TODAY + timedelta(hours=8),
        provider="anthropic",
        model="claude-3-5-sonnet",
        credential_name="prod-key",
        prompt_tokens=1000,
        completion_tokens=500,
    )
    record(
        workspace,
        TODAY + timedelta(hours=9),
        provider="anthropic",
        model="claude-3-5-sonnet",
        credential_name="",
        outcome="no_credential",
        prompt_tokens=0,
        completion_tokens=0,
    )


# --- Aggregation -------------------------------------------------------------------------------


def test_totals_per_provider_add_up_calls_errors_and_tokens_across_days(workspace, mixed_week):
    rows = {row.provider: row for row in summary(workspace, "provider")}

    assert set(rows) == {"openai", "anthropic"}
    openai = rows["openai"]
    assert (openai.calls, openai.errors) == (3, 1)
    assert (openai.prompt_tokens, openai.completion_tokens, openai.total_tokens) == (110, 25, 135)
    anthropic = rows["anthropic"]
    assert (anthropic.calls, anthropic.errors, anthropic.total_tokens) == (2, 1, 1500)
    assert anthropic.provider_label == "Anthropic"


def test_totals_per_model_keep_each_model_of_a_provider_apart(workspace, mixed_week):
    rows = {(row.provider, row.model): row for row in summary(workspace, "model")}

    assert set(rows) == {
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-3-5-sonnet"),
    }
    assert (rows["openai", "gpt-4o"].calls, rows["openai", "gpt-4o"].errors) == (2, 1)
    assert rows["openai", "gpt-4o-mini"].total_tokens == 15
    assert rows["anthropic", "claude-3-5-sonnet"].total_tokens == 1500


def test_totals_per_credential_keep_same_named_credentials_of_two_providers_apart(
    workspace, mixed_week
):
    rows = {(row.provider, row.credential): row for row in summary(workspace, "credential")}

    assert set(rows) == {
        ("openai", "prod-key"),
        ("openai", "backup-key"),
        ("anthropic", "prod-key"),
        ("anthropic", ""),  # the call failed before a credential was chosen
    }
    assert rows["openai", "prod-key"].calls == 2
    assert rows["openai", "backup-key"].errors == 1
    assert rows["anthropic", ""].errors == 1


def test_busiest_group_comes_first(workspace, mixed_week):
    assert [row.provider for row in summary(workspace, "provider")] == ["openai", "anthropic"]


def test_days_without_calls_are_zeros_in_the_series(workspace, mixed_week):
    points = selectors.usage_series(
        workspace=workspace, since=TODAY - 6 * DAY, until=TODAY + DAY, bucket=selectors.DAY
    )

    assert [p.start for p in points] == [TODAY - n * DAY for n in range(6, -1, -1)]
    assert [p.calls for p in points] == [0, 2, 0, 0, 1, 0, 2]
    assert [p.errors for p in points] == [0, 0, 0, 0, 1, 0, 1]
    assert [p.total_tokens for p in points] == [0, 135, 0, 0, 0, 0, 1500]


def test_last_24_hours_are_counted_per_hour(workspace):
    record(workspace, NOW - timedelta(minutes=5))
    record(workspace, NOW - timedelta(hours=3))
    since, until = selectors.RANGES["24h"].bounds()

    points = selectors.usage_series(
        workspace=workspace, since=since, until=until, bucket=selectors.HOUR
    )

    assert len(points) == 24
    assert points[-1].start == datetime(2025, 3, 15, 10, tzinfo=UTC)
    assert points[-1].calls == 1
    assert points[-4].calls == 1
    assert sum(p.calls for p in points) == 2


def test_each_range_ends_with_the_current_utc_hour_or_day():
    assert selectors.RANGES["24h"].bounds() == (
        datetime(2025, 3, 14, 11, tzinfo=UTC),
        datetime(2025, 3, 15, 11, tzinfo=UTC),
    )
    assert selectors.RANGES["7d"].bounds() == (TODAY - 6 * DAY, TODAY + DAY)
    assert selectors.RANGES["30d"].bounds() == (TODAY - 29 * DAY, TODAY + DAY)
    assert selectors.RANGES["90d"].bounds() == (TODAY - 89 * DAY, TODAY + DAY)


def test_a_range_counts_its_first_moment_but_not_the_moment_before(workspace):
    since, until = selectors.RANGES["7d"].bounds()
    record(workspace, since, model="first-moment")
    record(workspace, since - timedelta(microseconds=1), model="just-before")
    record(workspace, until, model="next-day")

    models = {row.model for row in summary(workspace, "model", since=since, until=until)}

    assert models == {"first-moment"}


def test_days_are_utc_days_whatever_the_site_time_zone(workspace, settings):
    settings.TIME_ZONE = "America/New_York"
    # 02:00 UTC on Mar 14 is still Mar 13 in New York; the page counts it on Mar 14.
    record(workspace, datetime(2025, 3, 14, 2, tzinfo=UTC))

    points = selectors.usage_series(
        workspace=workspace, since=TODAY - 6 * DAY, until=TODAY + DAY, bucket=selectors.DAY
    )
    (day,) = [p for p in points if p.calls]
    assert day.start == datetime(2025, 3, 14, tzinfo=UTC)


def test_another_workspaces_calls_are_left_out(workspace, other_workspace):
    record(other_workspace["workspace"], NOW, provider="anthropic", model="secret-project")
    record(workspace, NOW)
    since, until = selectors.RANGES["7d"].bounds()

    assert [row.provider for row in summary(workspace, "provider")] == ["openai"]
    assert (
        sum(
            p.calls
            for p in selectors.usage_series(
                workspace=workspace, since=since, until=until, bucket=selectors.DAY
            )
        )
        == 1
    )
    assert [
        row.model
        for row in selectors.usage_export(
            workspace=workspace, since=since, until=until, group_by="model"
        )
    ] == ["gpt-4o"]


# --- The page ----------------------------------------------------------------------------------


def page(client, **params):
    response = client.get(reverse("usage"), params)
    assert response.status_code == 200
    return response.content.decode()


def table_rows(html: str) -> list[list[str]]:
    """The grouped-totals table as text cells, one list per row."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        ]
        for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_see_the_usage_page_and_export(client_for, role):
    client = client_for(role)

    assert client.get(reverse("usage")).status_code == 200
    assert client.get(reverse("usage-csv")).status_code == 200


@pytest.mark.parametrize("role", ["editor", "member"])
def test_editors_and_members_are_refused_the_usage_page_and_export(client_for, workspace, role):
    record(workspace, NOW)
    client = client_for(role)

    assert client.get(reverse("usage")).status_code == 403
    assert client.get(reverse("usage-csv")).status_code == 403


def test_the_settings_navigation_offers_usage_to_admins_only(client_for):
    usage_link = f'href="{reverse("usage")}"'

    assert usage_link in client_for("admin").get(reverse("api-key-list")).content.decode()
    assert usage_link not in client_for("member").get(reverse("api-key-list")).content.decode()


def test_page_shows_totals_per_provider_by_default_for_the_last_30_days(
    client_for, workspace, mixed_week
):
    record(workspace, TODAY - 40 * DAY, prompt_tokens=99999)  # before the 30 days
    html = page(client_for("admin"))

    assert '<option value="30d" selected>' in html
    assert '<option value="provider" selected>' in html
    assert 'data-usage-total="calls">5<' in html
    assert 'data-usage-total="tokens">1,635<' in html
    assert table_rows(html) == [
        ["OpenAI", "3", "1", "110", "25", "135"],
        ["Anthropic", "2", "1", "1,000", "500", "1,500"],
    ]
    assert "UTC" in html


def test_page_groups_by_model_or_by_credential_on_request(client_for, mixed_week):
    client = client_for("admin")

    by_model = table_rows(page(client, range="7d", group="model"))
    assert ["OpenAI", "gpt-4o", "2", "1", "100", "20", "120"] in by_model
    assert len(by_model) == 3

    by_credential = table_rows(page(client, range="7d", group="credential"))
    assert ["OpenAI", "backup-key", "1", "1", "0", "0", "0"] in by_credential
    assert [
        "Anthropic",
        "No credential (failed before one was chosen)",
        "1",
        "1",
        "0",
        "0",
        "0",
    ] in by_credential


def test_chart_is_an_inline_svg_with_one_bar_per_busy_day_and_a_description(client_for, mixed_week):
    html = page(client_for("admin"), range="7d")

    svg = re.search(r"<svg class=\"usage-chart\".*?</svg>", html, re.S).group(0)
    assert 'viewBox="0 0 800 340"' in svg and 'width="100%"' in svg
    assert 'role="img"' in svg
    assert '<title id="usage-chart-title">Calls and tokens per day</title>' in svg
    assert "Last 7 days, UTC: 5 calls in total, 2 errors" in svg
    assert svg.count('class="calls-bar"') == 3  # three of the seven days had calls
    assert svg.count('class="errors-bar"') == 2
    assert svg.count('class="hit"') == 7  # every day can be hovered, busy or not
    assert "Mar 10 UTC: 2 calls, 0 errors, 135 tokens" in svg
    assert "<polyline" in svg
    assert "cdn" not in html.lower()


def test_last_24_hours_chart_is_per_hour(client_for, workspace):
    record(workspace, NOW - timedelta(minutes=5))
    html = page(client_for("admin"), range="24h")

    assert "Calls and tokens per hour" in html
    assert "Mar 15, 10:00 UTC: 1 call, 0 errors, 15 tokens" in html
    assert html.count('class="hit"') == 24


def test_a_period_without_calls_shows_the_empty_state(client_for, workspace):
    record(workspace, TODAY - 3 * DAY)  # in the 30 days, not in the last 24 hours
    html = page(client_for("admin"), range="24h")

    assert (
        "No calls in this period yet — calls through the API keys and the playground show up here."
        in html
    )
    assert f'href="{reverse("api-key-list")}"' in html
    assert '<svg class="usage-chart"' not in html


def test_another_workspaces_calls_never_show_on_the_page(client_for, other_workspace):
    record(other_workspace["workspace"], NOW, model="their-model", credential_name="their-key")
    html = page(client_for("owner"), group="credential")

    assert "their-key" not in html
    assert "No calls in this period yet" in html


@pytest.mark.parametrize(
    ("params", "period", "group"),
    [
        ({"range": "forever", "group": "password"}, "30d", "provider"),
        ({"range": "7d", "group": "secret_data"}, "7d", "provider"),
        ({"range": "", "group": "model"}, "30d", "model"),
        ({"range": "7d\x00", "group": "model" * 1000}, "30d", "provider"),
    ],
)
def test_unknown_parameters_fall_back_to_the_defaults(
    client_for, mixed_week, params, period, group
):
    html = page(client_for("admin"), **params)

    assert f'<option value="{period}" selected>' in html
    assert f'<option value="{group}" selected>' in html


def test_changing_the_filters_refreshes_only_the_content_with_htmx(client_for, mixed_week):
    client = client_for("admin")
    full = page(client)
    assert 'hx-get="/settings/usage/"' in full and 'action="/settings/usage/"' in full

    response = client.get(
        reverse("usage"),
        {"range": "7d", "group": "model"},
        headers={"HX-Request": "true", "HX-Target": "usage-content"},
    )

    fragment = response.content.decode()
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<div id="usage-content">')
    assert "<html" not in fragment and "<form" not in fragment
    assert "gpt-4o-mini" in fragment
    assert "HX-Request" in response["Vary"]


# --- CSV export --------------------------------------------------------------------------------


def export(client, **params):
    response = client.get(reverse("usage-csv"), params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    return response, rows


def test_csv_has_one_row_per_day_and_model(client_for, mixed_week):
    response, rows = export(client_for("admin"), range="7d", group="model")

    assert response["Content-Disposition"] == 'attachment; filename="usage-acme-7d.csv"'
    assert list(rows[0]) == [
        "date",
        "provider",
        "model",
        "credential",
        "calls",
        "errors",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "reasoning_tokens",
        "images",
        "speech_characters",
        "audio_seconds",
        "rerank_searches",
        "environment",  # new columns come last
    ]
    assert [dict(row) for row in rows] == [
        {
            "date": "2025-03-10",
            "provider": "openai",
            "model": "gpt-4o",
            "credential": "",
            "calls": "1",
            "errors": "0",
            "prompt_tokens": "100",
            "completion_tokens": "20",
            "total_tokens": "120",
            "reasoning_tokens": "0",
            "images": "0",
            "speech_characters": "0",
            "audio_seconds": "0",
            "rerank_searches": "0",
            "environment": "",
        },
        {
            "date": "2025-03-10",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "credential": "",
            "calls": "1",
            "errors": "0",
            "prompt_tokens": "10",
            "completion_tokens": "5",
            "total_tokens": "15",
            "reasoning_tokens": "0",
            "images": "0",
            "speech_characters": "0",
            "audio_seconds": "0",
            "rerank_searches": "0",
            "environment": "",
        },
        {
            "date": "2025-03-13",
            "provider": "openai",
            "model": "gpt-4o",
            "credential": "",
            "calls": "1",
            "errors": "1",
            "prompt_tokens": "0",
            "completion_tokens": "0",
            "total_tokens": "0",
            "reasoning_tokens": "0",
            "images": "0",
            "speech_characters": "0",
            "audio_seconds": "0",
            "rerank_searches": "0",
            "environment": "",
        },
        {
            "date": "2025-03-15",
            "provider": "anthropic",
            "model": "claude-3-5-sonnet",
            "credential": "",
            "calls": "2",
            "errors": "1",
            "prompt_tokens": "1000",
            "completion_tokens": "500",
            "total_tokens": "1500",
            "reasoning_tokens": "0",
            "images": "0",
            "speech_characters": "0",
            "audio_seconds": "0",
            "rerank_searches": "0",
            "environment": "",
        },
    ]


def test_csv_per_credential_names_the_credential_of_each_day(client_for, mixed_week):
    _, rows = export(client_for("admin"), range="7d", group="credential")

    assert [(r["date"], r["provider"], r["credential"], r["calls"]) for r in rows] == [
        ("2025-03-10", "openai", "prod-key", "2"),
        ("2025-03-13", "openai", "backup-key", "1"),
        ("2025-03-15", "anthropic", "", "1"),
        ("2025-03-15", "anthropic", "prod-key", "1"),
    ]
    assert all(r["model"] == "" for r in rows)


def test_csv_counts_only_the_chosen_range_and_this_workspace(
    client_for, workspace, other_workspace
):
    record(workspace, NOW - 2 * DAY)
    record(workspace, NOW - 20 * DAY)
    record(other_workspace["workspace"], NOW, provider="anthropic")

    _, week = export(client_for("admin"), range="7d")
    _, month = export(client_for("admin"), range="30d")

    assert [(r["date"], r["provider"], r["calls"]) for r in week] == [("2025-03-13", "openai", "1")]
    assert [r["date"] for r in month] == ["2025-02-23", "2025-03-13"]


def test_csv_with_unknown_parameters_exports_the_default_range(client_for, mixed_week):
    response, rows = export(client_for("admin"), range="all-time", group="api_key")

    assert response["Content-Disposition"] == 'attachment; filename="usage-acme-30d.csv"'
    assert {r["provider"] for r in rows} == {"openai", "anthropic"}
    assert all(r["model"] == "" and r["credential"] == "" for r in rows)


def test_csv_keeps_a_name_that_looks_like_a_formula_as_text(client_for, workspace):
    record(workspace, NOW, credential_name='=HYPERLINK("http://evil")')

    _, rows = export(client_for("admin"), group="credential")

    assert rows[0]["credential"] == '\'=HYPERLINK("http://evil")'


def test_reasoning_tokens_are_totalled_shown_and_exported(client_for, workspace):
    record(workspace, TODAY + timedelta(hours=1), completion_tokens=50, reasoning_tokens=30)
    record(workspace, TODAY + timedelta(hours=2), completion_tokens=5)

    [row] = summary(workspace, "provider")
    assert (row.completion_tokens, row.reasoning_tokens) == (55, 30)
    client = client_for("admin")
    page = client.get(reverse("usage")).content.decode()
    assert "of which reasoning: 30" in page
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("usage-csv")).content.decode())))
    assert [r["reasoning_tokens"] for r in rows] == ["30"]


# --- media units (issue 22) ------------------------------------------------------------------


@pytest.fixture
def media_day(workspace):
    at = TODAY + timedelta(hours=8)
    zero = {"prompt_tokens": 0, "completion_tokens": 0}
    record(workspace, at, model="dall-e-3", model_type="image", unit="images", units=3, **zero)
    record(workspace, at, model="tts-1", model_type="tts", unit="characters", units=1200, **zero)
    record(
        workspace, at, model="whisper-1", model_type="speech2text", unit="seconds", units=45, **zero
    )
    record(
        workspace,
        at,
        provider="cohere",
        model="rerank-v3.5",
        model_type="rerank",
        unit="searches",
        units=2,
        **zero,
    )


def test_the_page_shows_media_units_in_words(client_for, media_day):
    html = page(client_for("admin"), range="7d", group="model")
    assert "media: 3 images, 1,200 characters spoken, 45 seconds of audio, 2 searches" in html
    cells = {row[0] + " " + row[1]: row[-1] for row in table_rows(html)}
    assert cells["OpenAI dall-e-3"] == "3 images"
    assert cells["Cohere rerank-v3.5"] == "2 searches"


def test_the_page_has_no_media_column_without_media_calls(client_for, mixed_week):
    assert "data-usage-media" not in page(client_for("admin"), range="7d")


def test_csv_counts_media_units_per_model(client_for, media_day):
    _, rows = export(client_for("admin"), range="7d", group="model")
    by_model = {row["model"]: row for row in rows}
    assert by_model["dall-e-3"]["images"] == "3"
    assert by_model["tts-1"]["speech_characters"] == "1200"
    assert by_model["whisper-1"]["audio_seconds"] == "45"
    assert by_model["rerank-v3.5"]["rerank_searches"] == "2"
    assert by_model["tts-1"]["images"] == "0"


# --- Environments ------------------------------------------------------------------------------


@pytest.fixture
def two_environments(workspace, members):
    """Calls today in Production (2) and Development (1), and one from before environments."""
    from workspaces.services import default_environment, environment_create

    production = default_environment(workspace)
    development = environment_create(
        workspace=workspace, name="Development", acting_user=members["owner"].user
    )
    for environment, tokens in ((production, 100), (production, 200), (development, 7)):
        record(
            workspace,
            TODAY + timedelta(hours=1),
            environment=environment,
            environment_name=environment.name,
            prompt_tokens=tokens,
            completion_tokens=0,
        )
    record(workspace, TODAY + timedelta(hours=2), prompt_tokens=1, completion_tokens=0)
    return {"Production": production, "Development": development}


def test_totals_per_environment(workspace, two_environments):
    rows = {
        row.environment: (row.calls, row.total_tokens) for row in summary(workspace, "environment")
    }
    assert rows == {"Production": (2, 300), "Development": (1, 7), "": (1, 1)}


def test_a_renamed_environment_is_one_row_and_a_deleted_one_keeps_its_name(
    workspace, members, two_environments
):
    from workspaces.services import environment_create, environment_delete, environment_update

    owner = members["owner"].user
    environment_update(environment=two_environments["Development"], name="Dev", acting_user=owner)
    record(
        workspace,
        TODAY + timedelta(hours=3),
        environment=two_environments["Development"],
        environment_name="Dev",
        prompt_tokens=3,
        completion_tokens=0,
    )
    staging = environment_create(workspace=workspace, name="Staging", acting_user=owner)
    record(
        workspace,
        TODAY + timedelta(hours=3),
        environment=staging,
        environment_name="Staging",
        prompt_tokens=5,
        completion_tokens=0,
    )
    environment_delete(environment=staging, acting_user=owner)

    rows = {
        row.environment: (row.calls, row.total_tokens) for row in summary(workspace, "environment")
    }
    assert rows == {"Production": (2, 300), "Dev": (2, 10), "Staging": (1, 5), "": (1, 1)}


def test_the_page_filters_by_environment(client_for, two_environments):
    client = client_for("admin")
    development = two_environments["Development"]
    html = client.get(reverse("usage"), {"environment": development.pk}).content.decode()
    assert 'data-usage-total="calls">1<' in html
    assert "in Development" in html
    everything = client.get(reverse("usage")).content.decode()
    assert 'data-usage-total="calls">4<' in everything
    select = everything.split('name="environment"', 1)[1].split("</select>", 1)[0]
    assert "All environments" in select and "Production" in select and "Development" in select


def test_the_page_groups_by_environment(client_for, two_environments):
    html = client_for("admin").get(reverse("usage"), {"group": "environment"}).content.decode()
    table = html.split("By environment", 1)[1]
    assert '<th scope="col">Environment</th>' in table
    assert table.index("Production") < table.index("Development")  # busiest first
    assert "No environment (calls before environments)" in table


def test_another_workspaces_environment_filters_nothing(
    client_for, two_environments, other_workspace
):
    from workspaces.services import default_environment

    theirs = default_environment(other_workspace["workspace"])
    html = client_for("admin").get(reverse("usage"), {"environment": theirs.pk}).content.decode()
    assert 'data-usage-total="calls">4<' in html


def test_csv_carries_the_environment_last_and_follows_the_filter(client_for, two_environments):
    client = client_for("admin")
    _, rows = export(client, group="provider")
    assert list(rows[0])[-1] == "environment"
    assert sorted((row["environment"], row["calls"]) for row in rows) == [
        ("", "1"),
        ("Development", "1"),
        ("Production", "2"),
    ]
    development = two_environments["Development"]
    _, rows = export(client, group="model", environment=development.pk)
    assert [(row["environment"], row["calls"]) for row in rows] == [("Development", "1")]
    html = client.get(reverse("usage"), {"environment": development.pk}).content.decode()
    assert f"environment={development.pk}" in html.split("Download CSV")[0].rsplit("href=", 1)[1]
