"""Run parameters of the ``qtickets_api`` DAG and the load window they imply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from qtickets.datasets import DATASETS, Window
from qtickets.exceptions import QticketsConfigError
from qtickets.timeutil import utcnow

# Each scheduled window starts a little before the previous one ended: an order updated exactly at a
# boundary, or committed by the vendor a few seconds late, is read twice rather than never
# (ReplacingMergeTree makes the second read harmless).
WINDOW_OVERLAP = timedelta(minutes=5)
# A manual run without a data interval and without since_hours reads this far back.
MANUAL_SINCE_HOURS = 2
MAX_SINCE_HOURS = 24 * 365 * 10


@dataclass(frozen=True)
class RunParams:
    """The DAG params, validated: ``dry_run``, ``since_hours``, ``datasets``, ``fixtures_dir``."""

    dry_run: bool = False
    since_hours: int | None = None
    datasets: tuple[str, ...] = ()
    fixtures_dir: str | None = None

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any] | None) -> RunParams:
        """Validate params from the trigger form or run conf.

        :raises QticketsConfigError: a value has the wrong type or names an unknown dataset.
        """
        params = dict(params or {})
        dry_run = params.get("dry_run", False)
        if isinstance(dry_run, str):
            dry_run = dry_run.strip().lower() in {"1", "true", "yes", "on"}
        since_hours = params.get("since_hours")
        if since_hours in ("", None):
            since_hours = None
        else:
            try:
                since_hours = int(since_hours)
            except (TypeError, ValueError) as exc:
                raise QticketsConfigError(f"since_hours must be a whole number of hours, got {since_hours!r}") from exc
            if not 1 <= since_hours <= MAX_SINCE_HOURS:
                raise QticketsConfigError(f"since_hours must be between 1 and {MAX_SINCE_HOURS}, got {since_hours}")
        datasets = params.get("datasets") or ()
        if isinstance(datasets, str):
            datasets = [d.strip() for d in datasets.split(",") if d.strip()]
        unknown = sorted(set(datasets) - DATASETS.keys())
        if unknown:
            raise QticketsConfigError(f"unknown dataset(s) {unknown} in param 'datasets'; valid: {sorted(DATASETS)}")
        fixtures_dir = params.get("fixtures_dir") or None
        return cls(bool(dry_run), since_hours, tuple(datasets), fixtures_dir)


def resolve_window(
    params: RunParams,
    *,
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    run_after: datetime | None = None,
    now: datetime | None = None,
    manual: bool = False,
) -> Window:
    """The window a run loads.

    It ends at the data interval's end, or, for a ``manual`` run (UI, REST API or CLI trigger, with or
    without a logical date) and a run without an interval, at ``run_after`` (when it was triggered):
    the UI always sends a logical date, whose inferred interval ends at the last 15-minute boundary,
    and whoever triggers a run wants the data up to then. ``since_hours`` (when given) wins for any run
    type and reaches that far back from the end. Otherwise a run with a real data interval starts at
    its start, widened by ``WINDOW_OVERLAP``; a run without one (or with a zero-length one) reads the
    last ``MANUAL_SINCE_HOURS`` hours.
    """
    end = data_interval_end or run_after or now or utcnow()
    if manual and run_after is not None:
        end = max(end, run_after)
    if params.since_hours is not None:
        return _whole_seconds(end - timedelta(hours=params.since_hours), end)
    if data_interval_start is not None and data_interval_end is not None and data_interval_start < data_interval_end:
        return _whole_seconds(data_interval_start - WINDOW_OVERLAP, end)
    return _whole_seconds(end - timedelta(hours=MANUAL_SINCE_HOURS), end)


def _whole_seconds(start: datetime, end: datetime) -> Window:
    # The vendor filter carries whole seconds; a window end of 12:00:00.547 would be sent as
    # 12:00:00 and silently drop records updated in that last fraction, while the filter guard
    # (exact) would accept them. Widen to whole seconds so both agree.
    start = start.replace(microsecond=0)
    if end.microsecond:
        end = end.replace(microsecond=0) + timedelta(seconds=1)
    return Window(start, end)
