"""Settings → Usage (owners and admins): the workspace's calls, errors and tokens over a chosen
range, as a chart and a table grouped by provider, model or credential, and as a CSV export."""

from __future__ import annotations

import csv

from django import forms
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from workspaces.access import workspace_view
from workspaces.htmx import HtmxHttpRequest, render_page
from workspaces.models import Role

from . import selectors


class UsageFilterForm(forms.Form):
    range = forms.ChoiceField(
        label="Period", choices=[(r.key, r.label) for r in selectors.RANGES.values()]
    )
    group = forms.ChoiceField(
        label="Group by",
        choices=[(key, label) for key, (label, _) in selectors.GROUPINGS.items()],
    )


def _filters(request: HtmxHttpRequest) -> tuple[selectors.UsageRange, str]:
    """The range and grouping asked for; anything unknown falls back to the default, one
    parameter at a time (a stale bookmark still shows a page, never an error)."""
    range_key = request.GET.get("range", "")
    group_by = request.GET.get("group", "")
    usage_range = selectors.RANGES.get(range_key) or selectors.RANGES[selectors.DEFAULT_RANGE]
    if group_by not in selectors.GROUPINGS:
        group_by = selectors.DEFAULT_GROUPING
    return usage_range, group_by


@require_GET
@vary_on_headers("HX-Request")
@workspace_view(Role.ADMIN)
def usage_page(request: HtmxHttpRequest) -> HttpResponse:
    usage_range, group_by = _filters(request)
    since, until = usage_range.bounds()
    points = selectors.usage_series(
        workspace=request.workspace, since=since, until=until, bucket=usage_range.bucket
    )
    totals = selectors.usage_totals(workspace=request.workspace, since=since, until=until)
    context = {
        "form": UsageFilterForm(initial={"range": usage_range.key, "group": group_by}),
        "usage_range": usage_range,
        "group_by": group_by,
        "group_label": selectors.GROUPINGS[group_by][0],
        "since": since,
        "until": until,
        "totals": totals,
        "rows": selectors.usage_summary(
            workspace=request.workspace, since=since, until=until, group_by=group_by
        ),
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
]


def _cell(text: str) -> str:
    """Names come from users: one starting like a formula is kept as text by spreadsheets."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@require_GET
@workspace_view(Role.ADMIN)
def usage_csv(request: HtmxHttpRequest) -> HttpResponse:
    """One row per UTC day and group that had calls, for the same range and grouping as the
    page."""
    usage_range, group_by = _filters(request)
    since, until = usage_range.bounds()
    rows = selectors.usage_export(
        workspace=request.workspace, since=since, until=until, group_by=group_by
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
            ]
        )
    return response
