"""The coverage ledger (``meta_coverage``): which spans of an incremental dataset are in staging.

Reads and writes only; the planning arithmetic is in :mod:`qtickets.coverage`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from qtickets.coverage import Coverage, Range
from qtickets.datasets import Window
from qtickets.timeutil import to_epoch
from qtickets.warehouse.paths import QUERIES_DIR

COLUMNS = ("dataset", "range_start", "range_end", "run_id", "recorded_at", "_ver")


def _at(epoch: Any) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


def read_coverage(ch: Any, dataset: str, since: datetime) -> Coverage:
    """Covered ranges of ``dataset`` ending at or after ``since``, and when coverage began."""
    rows = ch.run_sql_file(QUERIES_DIR / "coverage_ranges.sql", {"dataset": dataset, "since": to_epoch(since)})
    first = _at(rows[0][2]) if rows else None
    if first is None:
        # No range ends after `since`: coverage may still exist, all of it older (a long outage).
        older = ch.fetch_all(
            "SELECT toUnixTimestamp(min(range_start)), toUnixTimestamp(max(range_end)), count() "
            "FROM {{ db }}.meta_coverage WHERE dataset = %(dataset)s", {"dataset": dataset})
        if older and older[0][2]:
            first_start, last_end = _at(older[0][0]), _at(older[0][1])
            # Only where it ends matters for planning: one range standing for all of it.
            return Coverage(((first_start, last_end),), first_start)
        return Coverage((), None)
    return Coverage.of(((_at(s), _at(e)) for s, e, _ in rows), first)


def covered_by_run(ch: Any, dataset: str, run_id: str) -> list[Range]:
    """Ranges of ``dataset`` that run ``run_id`` has already covered (an earlier attempt of its task)."""
    rows = ch.run_sql_file(QUERIES_DIR / "coverage_of_run.sql", {"dataset": dataset, "run_id": run_id})
    return [(_at(s), _at(e)) for s, e in rows]


def record_coverage(ch: Any, dataset: str, window: Window, run_id: str) -> None:
    """Add ``window`` to ``dataset``'s coverage. Call only once its rows are in staging."""
    now_us = time.time_ns() // 1000
    ch.insert("meta_coverage", COLUMNS, [(dataset, to_epoch(window.start), to_epoch(window.end), run_id,
                                          now_us // 1_000_000, now_us)])


def coverage_violations(ch: Any, dataset: str, *, now: datetime, lookback: timedelta,
                        max_age: timedelta, until: datetime | None = None) -> list[tuple[str, str]]:
    """What is wrong with ``dataset``'s coverage: holes within ``lookback`` before ``now`` (and before
    ``until``: a run answers for the timeline up to its own window's end, which is also as far as it
    reads holes; a later run reads and checks the rest), coverage that ends more than ``max_age`` ago, or
    no coverage at all; ``[]`` when it is whole and current."""
    coverage = read_coverage(ch, dataset, now - lookback)
    frontier = coverage.frontier
    if frontier is None:
        return [(dataset, "never loaded: no range of its timeline was ever read completely; run the DAG "
                          "(since_hours reads history)")]
    found = [(dataset, f"hole {_fmt(start)} .. {_fmt(end)}: nothing in this range of updated_at was read "
                       "completely; the next successful run reads it")
             for start, end in coverage.holes(now - lookback, min(frontier, until or frontier))]
    if frontier < now - max_age:
        found.append((dataset, f"coverage ends at {_fmt(frontier)}, more than {max_age} before {_fmt(now)}: "
                               "loads are failing or not running"))
    return found


def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
