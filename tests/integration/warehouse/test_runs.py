"""Run records: retried writes replace, per-dataset loads drive cadence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from qtickets.exceptions import QticketsTransientError
from qtickets.warehouse import DatasetLoad, RunRecord, last_dataset_load, record_dataset_load, record_run

pytestmark = pytest.mark.integration

T = datetime(2025, 11, 10, 12, 0, tzinfo=UTC)


def test_retried_record_run_replaces(ch):
    run = RunRecord(job="qtickets_api", run_id="manual__1", status="running", started_at=T, finished_at=T,
                    dag_id="qtickets_api", run_type="manual")
    record_run(ch, run)
    run.status, run.finished_at = "failed", T + timedelta(minutes=3)
    run.message = {"orders": 120, "events": 10}
    run.failed_tasks = ["load_orders"]
    run.with_error(QticketsTransientError("vendor down", status=503, code="UNKNOWN_ERROR", request_id="r-1"))
    record_run(ch, run)
    record_run(ch, run)
    rows = ch.fetch_all("SELECT status, message, http_status, error_code, request_id, error_message, failed_tasks, "
                        "finished_at FROM {{ db }}.meta_job_runs FINAL")
    assert len(rows) == 1
    status, message, http_status, code, request_id, error, failed_tasks, finished = rows[0]
    assert (status, http_status, code, request_id, failed_tasks) == ("failed", 503, "UNKNOWN_ERROR", "r-1",
                                                                      ["load_orders"])
    assert json.loads(message) == {"orders": 120, "events": 10}
    assert error.startswith("QticketsTransientError: vendor down")
    assert finished == T + timedelta(minutes=3)


def test_naive_times_rejected():
    with pytest.raises(ValueError, match="aware"):
        RunRecord("j", "r", "success", datetime(2025, 1, 1), T).as_row()


def test_last_dataset_load(ch):
    assert last_dataset_load(ch, "orders") is None
    record_dataset_load(ch, DatasetLoad("orders", "r1", "success", T, T + timedelta(minutes=1), rows=5, pages=1))
    record_dataset_load(ch, DatasetLoad("orders", "r2", "failed", T, T + timedelta(hours=1)))
    record_dataset_load(ch, DatasetLoad("events", "r2", "success", T, T + timedelta(hours=2)))
    assert last_dataset_load(ch, "orders") == T + timedelta(minutes=1)
    record_dataset_load(ch, DatasetLoad("orders", "r2", "success", T, T + timedelta(hours=1, minutes=5)))
    assert last_dataset_load(ch, "orders") == T + timedelta(hours=1, minutes=5)
    assert ch.fetch_all("SELECT count() FROM {{ db }}.meta_dataset_loads FINAL WHERE dataset = 'orders'") == [(2,)]
