"""When a dataset is worth loading in a run: incremental ones always, snapshots when due by cadence."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qtickets.datasets import Dataset
    from qtickets.params import RunParams
    from qtickets.window import Window

#: A snapshot is of the present: a run whose window ended longer ago than this (or the cadence) skips it.
PRESENT_SLACK = timedelta(minutes=30)


def is_due(ds: Dataset, params: RunParams, window: Window, now: datetime,
           last_success: datetime | None) -> tuple[bool, str]:
    """``(due, why)``; ``why`` is the reason logged and recorded either way."""
    if ds.mode == "incremental":
        return True, "incremental: every interval"
    if ds.name in params.datasets or params.fixtures_dir:
        return True, "named in the run's params"
    if window.end < now - max(ds.cadence, PRESENT_SLACK):
        return False, (f"snapshot of the present; not re-read for a past interval ending "
                       f"{window.end.isoformat()} (backfill)")
    if last_success is not None and now - last_success < ds.cadence - timedelta(minutes=1):
        return False, f"last loaded {last_success.isoformat()}, cadence {ds.cadence}"
    return True, "due"
