"""Run records: one row per DAG run in ``meta_job_runs``, one per dataset load in ``meta_dataset_loads``.

Both tables are ``ReplacingMergeTree(_ver)`` keyed by the run, so writing the same record again (a
retried ``record_run`` task) replaces it. Every string written passes through
:func:`qtickets.redaction.redact` (the request id is kept only when it looks like one). ``_ver`` here is the write time in microseconds: the last
write of a record wins even within one second.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from qtickets.exceptions import QticketsApiError, error_fields
from qtickets.redaction import redact, redact_data, safe_request_id
from qtickets.timeutil import to_epoch

ERROR_MESSAGE_LIMIT = 2000

RUN_COLUMNS = (
    "job", "run_id", "dag_id", "run_type", "started_at", "finished_at", "status", "rows_processed", "message",
    "window_start", "window_end", "http_status", "error_code", "request_id", "error_message", "failed_tasks", "_ver",
)
LOAD_COLUMNS = (
    "dataset", "run_id", "started_at", "finished_at", "window_start", "window_end", "status", "rows", "pages",
    "requests", "retries", "_ver", "staging_mark",
)


def _epoch(value: datetime | None, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")
    return to_epoch(value)


def _ver() -> int:
    return time.time_ns() // 1000


@dataclass
class RunRecord:
    """One DAG run. ``message`` is the per-dataset counts (a mapping is stored as JSON)."""

    job: str
    run_id: str
    status: str
    started_at: datetime
    finished_at: datetime
    dag_id: str = ""
    run_type: str = ""
    rows_processed: int = 0
    message: Mapping[str, Any] | str = field(default_factory=dict)
    window_start: datetime | None = None
    window_end: datetime | None = None
    http_status: int | None = None
    error_code: str = ""
    request_id: str = ""
    error_message: str = ""
    failed_tasks: Sequence[str] = ()

    def with_error(self, exc: BaseException) -> RunRecord:
        """Fill the error fields from an exception (typed vendor errors carry status/code/request id)."""
        if isinstance(exc, QticketsApiError):
            fields = error_fields(exc)
            self.http_status = fields["http_status"]
            self.error_code = fields["error_code"] or ""
            self.request_id = fields["request_id"] or ""
        self.error_message = redact(f"{type(exc).__name__}: {exc}")[:ERROR_MESSAGE_LIMIT]
        return self

    def as_row(self) -> tuple:
        if not self.job or not self.run_id or not self.status:
            raise ValueError("RunRecord needs job, run_id and status")
        message = redact(self.message) if isinstance(self.message, str) else orjson.dumps(
            redact_data(dict(self.message)), default=str, option=orjson.OPT_NON_STR_KEYS
        ).decode()
        return (
            redact(self.job), redact(self.run_id), redact(self.dag_id), redact(self.run_type),
            _epoch(self.started_at, "started_at"), _epoch(self.finished_at, "finished_at"), redact(self.status),
            int(self.rows_processed), message,
            _epoch(self.window_start, "window_start"), _epoch(self.window_end, "window_end"), self.http_status,
            redact(self.error_code or "")[:200], safe_request_id(self.request_id) or "",
            redact(self.error_message or "")[:ERROR_MESSAGE_LIMIT], [redact(t) for t in self.failed_tasks], _ver(),
        )


@dataclass
class DatasetLoad:
    """One dataset load (or fact rebuild) of one run; ``status`` is ``success``/``failed``/``skipped``."""

    dataset: str
    run_id: str
    status: str
    started_at: datetime
    finished_at: datetime
    window_start: datetime | None = None
    window_end: datetime | None = None
    rows: int = 0
    pages: int = 0
    requests: int = 0
    retries: int = 0
    #: Sales-fact rebuilds: the staging change mark they were built from (``sales_months.staging_mark``).
    staging_mark: int = 0

    def as_row(self) -> tuple:
        if not self.dataset or not self.run_id or not self.status:
            raise ValueError("DatasetLoad needs dataset, run_id and status")
        return (
            redact(self.dataset), redact(self.run_id), _epoch(self.started_at, "started_at"),
            _epoch(self.finished_at, "finished_at"), _epoch(self.window_start, "window_start"),
            _epoch(self.window_end, "window_end"), redact(self.status),
            int(self.rows), int(self.pages), int(self.requests), int(self.retries), _ver(), int(self.staging_mark),
        )


def record_run(ch: Any, record: RunRecord) -> None:
    """Write (or rewrite) the run's row in ``meta_job_runs``."""
    ch.insert("meta_job_runs", RUN_COLUMNS, [record.as_row()])


def record_dataset_load(ch: Any, load: DatasetLoad) -> None:
    """Write (or rewrite) one dataset load in ``meta_dataset_loads``."""
    ch.insert("meta_dataset_loads", LOAD_COLUMNS, [load.as_row()])


def last_dataset_load(ch: Any, dataset: str) -> datetime | None:
    """Finish time of the latest successful load of ``dataset`` (aware, UTC), or ``None``."""
    rows = ch.fetch_all(
        "SELECT toUnixTimestamp(maxOrNull(finished_at)) FROM "
        "(SELECT dataset, status, finished_at FROM {{ db }}.meta_dataset_loads FINAL) "
        "WHERE dataset = %(dataset)s AND status = 'success'",
        {"dataset": dataset},
    )
    value = rows[0][0] if rows else None
    return None if value is None else datetime.fromtimestamp(int(value), UTC)
