"""Helpers only tests use. They used to live in the production modules whose state they reach
into; production code never called them, so they live here."""

from __future__ import annotations

from collections.abc import Sequence

from balancing.stats import Counts, PoolStats
from invocation import usage
from upstream.adapters import base as adapters_base


def stats_window(
    stats: PoolStats, pool_key: str, entry_ids: Sequence[str], *, minutes: int
) -> dict[str, Counts]:
    """Requests and errors per entry over the last `minutes` minutes (this one included): one
    window of `PoolStats.windows`, the read the live pool view makes."""
    return stats.windows(pool_key, entry_ids, minutes=(minutes,))[minutes]


def reset_writer() -> None:
    """Write what is pending and start afresh with the current settings (invocation/usage.py's
    process-wide writer)."""
    with usage._writer_lock:
        if usage._writer is not None:
            usage._writer.stop()
        usage._writer = None


def flush_usage() -> int:
    """Write pending usage records now; the number written (0 when no writer has started)."""
    return usage.writer().flush() if usage._writer is not None else 0


def forget_usage_warnings() -> None:
    """Say the next unreadable usage of each provider again, as a fresh process would
    (upstream/adapters/base.py warns once per provider and process)."""
    with adapters_base._usage_warned_lock:
        adapters_base._usage_warned.clear()
