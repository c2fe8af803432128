"""Reads for the Usage page: a workspace's calls, errors and tokens over a time range (in one
environment, or all), totalled per provider, model, credential or environment, per hour or day
for the chart, and per day and group for the CSV export; plus the chart's geometry, drawn as SVG
by the template.

Buckets are UTC hours and UTC days whatever `settings.TIME_ZONE` says, so a day means the same
thing on the page, in the export and in every deployment. Ranges end with the current bucket:
"last 7 days" is today (UTC) and the six days before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDay, TruncHour
from django.utils import timezone

from upstream.registry import get_provider
from workspaces.models import Environment, Workspace

from .models import UsageRecord

HOUR = "hour"
DAY = "day"
_STEP = {HOUR: timedelta(hours=1), DAY: timedelta(days=1)}
_TRUNC = {HOUR: TruncHour, DAY: TruncDay}


# --- Ranges and groupings the page offers ---------------------------------------------------


@dataclass(frozen=True)
class UsageRange:
    key: str  # as in the URL and the CSV file name: "24h", "7d", ...
    label: str
    buckets: int
    bucket: str  # HOUR or DAY

    def bounds(self, *, now: datetime | None = None) -> tuple[datetime, datetime]:
        """[since, until): the current UTC bucket and the `buckets - 1` before it."""
        current = bucket_start(now or timezone.now(), self.bucket)
        step = _STEP[self.bucket]
        return current - step * (self.buckets - 1), current + step


RANGES = {
    r.key: r
    for r in (
        UsageRange("24h", "Last 24 hours", 24, HOUR),
        UsageRange("7d", "Last 7 days", 7, DAY),
        UsageRange("30d", "Last 30 days", 30, DAY),
        UsageRange("90d", "Last 90 days", 90, DAY),
    )
}
DEFAULT_RANGE = "30d"

# Group → the record fields that identify a row of the table. Credential names are only unique
# within a provider, so a credential row is (provider, credential name).
GROUPINGS = {
    "provider": ("Provider", ("provider",)),
    "model": ("Model", ("provider", "model")),
    "credential": ("Credential", ("provider", "credential_name")),
    # The environment's name now; for an environment deleted since, the name it had then.
    "environment": ("Environment", ("environment_label",)),
}
# A renamed environment's calls are one row under its new name, as the filter (by id) sees them.
_ENVIRONMENT_LABEL = Coalesce(F("environment__name"), F("environment_name"))


def _grouped(records, fields: tuple[str, ...]):
    if "environment_label" in fields:
        records = records.annotate(environment_label=_ENVIRONMENT_LABEL)
    return records


DEFAULT_GROUPING = "provider"


def bucket_start(moment: datetime, bucket: str) -> datetime:
    """The start of the UTC hour or day holding `moment`."""
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if bucket == DAY else moment


# --- Aggregates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageTotals:
    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0  # part of completion_tokens
    # Media calls, each in its own unit (invocation/metering.py).
    images: int = 0
    characters: int = 0  # spoken
    seconds: int = 0  # of audio transcribed
    searches: int = 0  # reranked

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def has_media(self) -> bool:
        return bool(self.images or self.characters or self.seconds or self.searches)

    @property
    def media(self) -> list[str]:
        """The media units used, in words ("2 images", "1,200 characters spoken")."""
        parts = []
        for count, one, many in (
            (self.images, "image", "images"),
            (self.characters, "character spoken", "characters spoken"),
            (self.seconds, "second of audio", "seconds of audio"),
            (self.searches, "search", "searches"),
        ):
            if count:
                parts.append(f"{count:,} {one if count == 1 else many}")
        return parts

    @property
    def error_rate(self) -> float:
        """Percent of calls that failed (0 without calls)."""
        return 100 * self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class UsageRow(UsageTotals):
    """Totals of one group: blank fields are not part of the grouping."""

    provider: str = ""
    model: str = ""
    credential: str = ""
    environment: str = ""

    @property
    def provider_label(self) -> str:
        """The catalog's name for the provider (its key if it left the catalog)."""
        spec = get_provider(self.provider)
        return spec.label if spec else self.provider


@dataclass(frozen=True)
class UsagePoint(UsageTotals):
    """Totals of one hour or day (`start`, UTC)."""

    start: datetime | None = None


@dataclass(frozen=True)
class UsageExportRow(UsageRow):
    """Totals of one group on one UTC day."""

    day: datetime | None = None


_AGGREGATES = {
    "calls": Count("pk"),
    "errors": Count("pk", filter=~Q(outcome="success")),
    "prompt_tokens": Sum("prompt_tokens"),
    "completion_tokens": Sum("completion_tokens"),
    "reasoning_tokens": Sum("reasoning_tokens"),
    "images": Sum("units", filter=Q(unit="images")),
    "characters": Sum("units", filter=Q(unit="characters")),
    "seconds": Sum("units", filter=Q(unit="seconds")),
    "searches": Sum("units", filter=Q(unit="searches")),
}


def _records(
    workspace: Workspace, since: datetime, until: datetime, environment: Environment | None
):
    records = UsageRecord.objects.filter(
        workspace=workspace, created_at__gte=since, created_at__lt=until
    )
    return records if environment is None else records.filter(environment=environment)


def _totals(values: dict) -> dict:
    return {name: values[name] or 0 for name in _AGGREGATES}


def _group_fields(group_by: str) -> tuple[str, ...]:
    return GROUPINGS[group_by][1]


def _row_fields(values: dict) -> dict:
    """A record's grouping fields under their names on the page."""
    return {
        "provider": values.get("provider", ""),
        "model": values.get("model", ""),
        "credential": values.get("credential_name", ""),
        "environment": values.get("environment_label") or "",
    }


def usage_environments(*, workspace: Workspace) -> list[Environment]:
    """The environments the page filters by: the workspace's, the default first."""
    return list(Environment.objects.filter(workspace=workspace))


def usage_environment(*, workspace: Workspace, pk: str) -> Environment | None:
    """The environment `pk` names among the workspace's; None for all (or an unknown id)."""
    try:
        return Environment.objects.filter(workspace=workspace, pk=int(pk)).first()
    except (TypeError, ValueError):
        return None


def usage_totals(
    *,
    workspace: Workspace,
    since: datetime,
    until: datetime,
    environment: Environment | None = None,
) -> UsageTotals:
    """Everything in [since, until) (of `environment`, None: all), in one row."""
    records = _records(workspace, since, until, environment)
    return UsageTotals(**_totals(records.aggregate(**_AGGREGATES)))


def usage_summary(
    *,
    workspace: Workspace,
    since: datetime,
    until: datetime,
    group_by: str,
    environment: Environment | None = None,
) -> list[UsageRow]:
    """One row per provider, model, credential or environment in [since, until), busiest
    first."""
    fields = _group_fields(group_by)
    rows = (
        _grouped(_records(workspace, since, until, environment), fields)
        .order_by()
        .values(*fields)
        .annotate(**_AGGREGATES)
        .order_by("-calls", *fields)
    )
    return [UsageRow(**_row_fields(row), **_totals(row)) for row in rows]


def usage_series(
    *,
    workspace: Workspace,
    since: datetime,
    until: datetime,
    bucket: str,
    environment: Environment | None = None,
) -> list[UsagePoint]:
    """One point per UTC hour or day from `since` up to `until`, zeros where nothing happened."""
    rows = (
        _records(workspace, since, until, environment)
        .order_by()
        .annotate(start=_TRUNC[bucket]("created_at", tzinfo=UTC))
        .values("start")
        .annotate(**_AGGREGATES)
    )
    found = {bucket_start(row["start"], bucket): _totals(row) for row in rows}
    step = _STEP[bucket]
    points = []
    start = bucket_start(since, bucket)
    while start < until:
        points.append(UsagePoint(start=start, **found.get(start, {})))
        start += step
    return points


def usage_export(
    *,
    workspace: Workspace,
    since: datetime,
    until: datetime,
    group_by: str,
    environment: Environment | None = None,
) -> list[UsageExportRow]:
    """One row per UTC day, group and environment that had calls, oldest day first: every
    row carries its environment, whatever the grouping."""
    fields = tuple(dict.fromkeys([*_group_fields(group_by), "environment_label"]))
    rows = (
        _grouped(_records(workspace, since, until, environment), fields)
        .order_by()
        .annotate(day=TruncDay("created_at", tzinfo=UTC))
        .values("day", *fields)
        .annotate(**_AGGREGATES)
        .order_by("day", *fields)
    )
    return [
        UsageExportRow(day=bucket_start(row["day"], DAY), **_row_fields(row), **_totals(row))
        for row in rows
    ]


# --- The chart -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartBucket:
    """One hour or day: its calls bar (errors drawn over its foot), the hover area with the
    tooltip, and its point of the tokens line."""

    x: float
    width: float
    hit_x: float
    hit_width: float
    calls_y: float
    calls_height: float
    errors_y: float
    errors_height: float
    tokens_x: float
    tokens_y: float
    title: str


@dataclass(frozen=True)
class ChartTick:
    position: float  # y for value ticks, x for time labels
    label: str


@dataclass(frozen=True)
class UsageChart:
    """Geometry of the usage chart in a fixed viewBox: calls per bucket as bars on top, tokens
    per bucket as a line below, sharing the time axis."""

    title: str
    description: str
    buckets: list[ChartBucket]
    calls_ticks: list[ChartTick]
    tokens_ticks: list[ChartTick]
    time_labels: list[ChartTick]
    tokens_line: str  # "x,y x,y …" for <polyline points>

    # The viewBox and the two plots in it. Labels are large for the 800-unit width so they stay
    # readable when a phone scales the chart down (app.css enlarges them further there).
    width: ClassVar[int] = 800
    height: ClassVar[int] = 340
    left: ClassVar[int] = 70
    right: ClassVar[int] = 750  # room for half of the latest time label, centred under its bar
    tick_x: ClassVar[int] = 62  # value labels end here, left of the plots
    calls_label_y: ClassVar[int] = 28
    calls_top: ClassVar[int] = 48
    calls_bottom: ClassVar[int] = 172
    tokens_label_y: ClassVar[int] = 208
    tokens_top: ClassVar[int] = 228
    tokens_bottom: ClassVar[int] = 290
    time_label_y: ClassVar[int] = 326
    hit_height: ClassVar[int] = 242  # a bucket's hover area: from calls_top to tokens_bottom


def _nice_step(largest: int, intervals: int) -> int:
    """A round whole step (1, 2, 2.5 or 5 × 10ⁿ) so that `intervals` steps cover `largest`."""
    raw = max(largest, 1) / intervals
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    for factor in (1, 2, 2.5, 5):
        step = factor * magnitude
        if step >= raw and step == int(step):
            return int(step)
    return 10 * magnitude


def compact_number(value: int) -> str:
    """1,234 → "1.2k", 3,400,000 → "3.4M": short axis labels."""
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if value >= limit:
            return f"{value / limit:.1f}".removesuffix(".0") + suffix
    return str(value)


def _value_ticks(
    largest: int, top: float, bottom: float, *, intervals: int
) -> tuple[int, list[ChartTick]]:
    step = _nice_step(largest, intervals)
    ceiling = step * max(1, math.ceil(largest / step))
    ticks = [
        ChartTick(round(bottom - (bottom - top) * value / ceiling, 1), compact_number(value))
        for value in range(0, ceiling + 1, step)
    ]
    return ceiling, ticks


def _bucket_label(start: datetime, bucket: str, *, long: bool = False) -> str:
    if bucket == HOUR:
        return f"{start:%b} {start.day}, {start:%H}:00" if long else f"{start:%H}:00"
    return f"{start:%b} {start.day}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def usage_chart(points: list[UsagePoint], *, bucket: str, range_label: str) -> UsageChart:
    """Lay out `points` (from `usage_series`) for the template's SVG."""
    frame = UsageChart
    count = max(len(points), 1)
    slot = (frame.right - frame.left) / count
    calls_max, calls_ticks = _value_ticks(
        max((p.calls for p in points), default=0),
        frame.calls_top,
        frame.calls_bottom,
        intervals=4,
    )
    tokens_max, tokens_ticks = _value_ticks(
        max((p.total_tokens for p in points), default=0),
        frame.tokens_top,
        frame.tokens_bottom,
        intervals=2,  # the tokens plot is short: three labels stay apart on a phone
    )
    calls_span = frame.calls_bottom - frame.calls_top
    tokens_span = frame.tokens_bottom - frame.tokens_top
    gap = min(slot * 0.2, 6)
    buckets = []
    for index, point in enumerate(points):
        x = frame.left + index * slot
        calls_height = calls_span * point.calls / calls_max
        errors_height = calls_span * point.errors / calls_max
        buckets.append(
            ChartBucket(
                x=round(x + gap / 2, 1),
                width=round(slot - gap, 1),
                hit_x=round(x, 1),
                hit_width=round(slot, 1),
                calls_y=round(frame.calls_bottom - calls_height, 1),
                calls_height=round(calls_height, 1),
                errors_y=round(frame.calls_bottom - errors_height, 1),
                errors_height=round(errors_height, 1),
                tokens_x=round(x + slot / 2, 1),
                tokens_y=round(
                    frame.tokens_bottom - tokens_span * point.total_tokens / tokens_max, 1
                ),
                title=(
                    f"{_bucket_label(point.start, bucket, long=True)} UTC: "
                    f"{_plural(point.calls, 'call')}, {_plural(point.errors, 'error')}, "
                    f"{_plural(point.total_tokens, 'token')}"
                ),
            )
        )
    # About seven time labels, ending on the current bucket.
    every = max(1, math.ceil(count / 7))
    time_labels = [
        ChartTick(buckets[i].tokens_x, _bucket_label(points[i].start, bucket))
        for i in range(len(points) - 1, -1, -every)
    ][::-1]
    unit = "hour" if bucket == HOUR else "day"
    busiest = max(points, key=lambda p: p.calls, default=None)
    calls = sum(p.calls for p in points)
    description = (
        f"{range_label}, UTC: {_plural(calls, 'call')} in total, "
        f"{_plural(sum(p.errors for p in points), 'error')}"
    )
    if busiest and busiest.calls:
        peak = _bucket_label(busiest.start, bucket, long=True)
        description += f"; the busiest {unit} was {peak} with {_plural(busiest.calls, 'call')}"
    description += (
        f". Tokens per {unit} are drawn as a line below the bars: "
        f"{_plural(sum(p.total_tokens for p in points), 'token')} in total."
    )
    return UsageChart(
        title=f"Calls and tokens per {unit}",
        description=description,
        buckets=buckets,
        calls_ticks=calls_ticks,
        tokens_ticks=tokens_ticks,
        time_labels=time_labels,
        tokens_line=" ".join(f"{b.tokens_x},{b.tokens_y}" for b in buckets),
    )
