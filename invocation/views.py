"""Settings → Usage (owners and admins): the workspace's calls, errors and tokens over a chosen
range and environment, as a chart and a table grouped by provider, model, credential or
environment, and as a CSV export."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from workspaces.access import workspace_view
from workspaces.htmx import HtmxHttpRequest, render_page
from workspaces.models import Environment, Role

from . import selectors


class UsageFilterForm(forms.Form):
    range = forms.ChoiceField(
        label="Period", choices=[(r.key, r.label) for r in selectors.RANGES.values()]
    )
    group = forms.ChoiceField(
        label="Group by",
        choices=[(key, label) for key, (label, _) in selectors.GROUPINGS.items()],
    )
    environment = forms.ChoiceField(label="Environment", required=False)

    def __init__(self, *args, environments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = [("", "All environments")] + [
            (str(e.pk), e.name) for e in environments
        ]


@dataclass(frozen=True)
class _Filters:
    usage_range: selectors.UsageRange
    group_by: str
    environment: Environment | None  # None: all

    @property
    def query(self) -> str:
        """The same filters as a query string (for the CSV link)."""
        params = {"range": self.usage_range.key, "group": self.group_by}
        if self.environment is not None:
            params["environment"] = str(self.environment.pk)
        return urlencode(params)


def _filters(request: HtmxHttpRequest) -> _Filters:
    """The range, grouping and environment asked for; anything unknown falls back to the
    default, one parameter at a time (a stale bookmark still shows a page, never an error;
    another workspace's environment is all environments)."""
    range_key = request.GET.get("range", "")
    group_by = request.GET.get("group", "")
    usage_range = selectors.RANGES.get(range_key) or selectors.RANGES[selectors.DEFAULT_RANGE]
    if group_by not in selectors.GROUPINGS:
        group_by = selectors.DEFAULT_GROUPING
    environment = selectors.usage_environment(
        workspace=request.workspace, pk=request.GET.get("environment", "")
    )
    return _Filters(usage_range, group_by, environment)


@require_GET
@vary_on_headers("HX-Request")
@workspace_view(Role.ADMIN)
def usage_page(request: HtmxHttpRequest) -> HttpResponse:
    filters = _filters(request)
    usage_range, group_by, environment = filters.usage_range, filters.group_by, filters.environment
    since, until = usage_range.bounds()
    scope = {"workspace": request.workspace, "since": since, "until": until}
    points = selectors.usage_series(**scope, bucket=usage_range.bucket, environment=environment)
    totals = selectors.usage_totals(**scope, environment=environment)
    form = UsageFilterForm(
        initial={
            "range": usage_range.key,
            "group": group_by,
            "environment": str(environment.pk) if environment else "",
        },
        environments=selectors.usage_environments(workspace=request.workspace),
    )
    context = {
        "form": form,
        "filters": filters,
        "usage_range": usage_range,
        "group_by": group_by,
        "group_label": selectors.GROUPINGS[group_by][0],
        "environment": environment,
        "since": since,
        "until": until,
        "totals": totals,
        "rows": selectors.usage_summary(**scope, group_by=group_by, environment=environment),
        "chart": selectors.usage_chart(
            points, bucket=usage_range.bucket, range_label=usage_range.label
        ),
    }
    return render_page(request, "invocation/usage.html", context, targets=("usage-content",))


CSV_COLUMNS = [
    "date",
    "provider",
    "model",
    "credential",
    "calls",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "reasoning_tokens",  # after these: columns readers already know keep their place
    "images",
    "speech_characters",
    "audio_seconds",
    "rerank_searches",
    "environment",  # the environment's name at call time; new columns go last
]


def _cell(text: str) -> str:
    """Names come from users: one starting like a formula is kept as text by spreadsheets."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@require_GET
@workspace_view(Role.ADMIN)
def usage_csv(request: HtmxHttpRequest) -> HttpResponse:
    """One row per UTC day, group and environment that had calls, for the same range,
    grouping and environment as the page."""
    filters = _filters(request)
    usage_range = filters.usage_range
    since, until = usage_range.bounds()
    rows = selectors.usage_export(
        workspace=request.workspace,
        since=since,
        until=until,
        group_by=filters.group_by,
        environment=filters.environment,
    )
    filename = f"usage-{request.workspace.slug}-{usage_range.key}.csv"
    response = HttpResponse(
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.day.date().isoformat(),
                _cell(row.provider),
                _cell(row.model),
                _cell(row.credential),
                row.calls,
                row.errors,
                row.prompt_tokens,
                row.completion_tokens,
                row.total_tokens,
                row.reasoning_tokens,
                row.images,
                row.characters,
                row.seconds,
                row.searches,
                _cell(row.environment),
            ]
        )
    return response
